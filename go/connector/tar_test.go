package connector

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"testing"

	"osstorchconnector/go/ossemu"
	"osstorchconnector/go/tarindex"
)

// makeTar returns a tar of n regular files m/NNN.bin of size(i) bytes each,
// and their contents.
func makeTar(n int, size func(int) int) ([]byte, [][]byte) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var want [][]byte
	for i := 0; i < n; i++ {
		data := pattern(size(i), byte(i))
		want = append(want, data)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("m/%03d.bin", i), Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	return buf.Bytes(), want
}

func TestTarIndexAndContiguousRunReads(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	raw, want := makeTar(50, func(i int) int { return 200 + i*31 })
	e.put(t, c, "a.tar", raw)

	ix, err := c.BuildTarIndex(bg, tBucket, "a.tar")
	if err != nil || len(ix.Members) != 50 || ix.TarETag == "" {
		t.Fatalf("index: %v %+v", err, ix)
	}
	parsed, err := tarindex.Parse(ix.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	ta, err := c.OpenTar(bg, tBucket, "a.tar", parsed)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetStats()
	indices := []int{10, 11, 12, 13, 40, 3, 4, 60, 12}
	res := ta.Read(bg, indices)
	for i, r := range res {
		if indices[i] >= 50 {
			if kindOf(r.Err) != KindInvalid {
				t.Fatalf("index %d: %v", indices[i], r.Err)
			}
			continue
		}
		if r.Err != nil || !bytes.Equal(r.Data, want[indices[i]]) {
			t.Fatalf("member %d: %v", indices[i], r.Err)
		}
	}
	// runs: 10-13, 40, 3-4, 12 (again) -> 4 ranged reads
	if got := e.settled(t).Count("GetObject", 0); got != 4 {
		t.Fatalf("%d GETs for 4 runs", got)
	}
	// the tar changes: the index no longer matches
	e.put(t, c, "a.tar", append(raw, make([]byte, 512)...))
	if _, err := c.OpenTar(bg, tBucket, "a.tar", parsed); kindOf(err) != KindInvalid {
		t.Fatalf("stale index accepted: %v", err)
	}
	// not a tar
	e.put(t, c, "not.tar", bytes.Repeat([]byte("garbage!"), 300))
	if _, err := c.BuildTarIndex(bg, tBucket, "not.tar"); kindOf(err) != KindInvalid {
		t.Fatalf("garbage indexed: %v", err)
	}
}

// OSS sends no checksum for a ranged GET: tar members are checked against the
// CRC-64 in the index. A damaged read is read again; a member damaged every
// time fails with ErrIntegrity while the others in its run are delivered.
func TestTarMembersAreCRCChecked(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	raw, want := makeTar(8, func(i int) int { return 3000 + i })
	e.put(t, c, "c.tar", raw)
	ix, err := c.BuildTarIndex(bg, tBucket, "c.tar")
	if err != nil {
		t.Fatal(err)
	}
	ta, err := c.OpenTar(bg, tBucket, "c.tar", ix)
	if err != nil {
		t.Fatal(err)
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}

	// one damaged response: read again, everything delivered intact
	e.faults(t, ossemu.Faults{Seed: 3, FlipRate: 1, Ops: []string{"GetObject"}, FaultLimit: 1})
	e.srv.ResetStats()
	for i, r := range ta.Read(bg, all) {
		if r.Err != nil || !bytes.Equal(r.Data, want[i]) {
			t.Fatalf("member %d after one damaged read: err %v, intact %v", i, r.Err, bytes.Equal(r.Data, want[i]))
		}
	}
	if got := e.settled(t).Count("GetObject", 0); got != 2 {
		t.Fatalf("%d GETs: want the damaged run read once more", got)
	}

	// damaged every time: the damaged member fails, no damaged bytes delivered
	e.faults(t, ossemu.Faults{Seed: 4, FlipRate: 1, Ops: []string{"GetObject"}})
	failed := 0
	for i, r := range ta.Read(bg, all) {
		switch {
		case r.Err != nil:
			if !errors.Is(r.Err, ErrIntegrity) || kindOf(r.Err) != KindNetwork {
				t.Fatalf("member %d: %v", i, r.Err)
			}
			failed++
		case !bytes.Equal(r.Data, want[i]):
			t.Fatalf("member %d: damaged bytes delivered", i)
		}
	}
	if failed != 1 {
		t.Fatalf("%d members failed; one byte of the run is flipped", failed)
	}
}
