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

// putTarIndex indexes tarKey and stores the index as generate_tar_archive
// does: upstream's encoding at indexKey, ours beside it.
func putTarIndex(t *testing.T, e *env, c *Client, tarKey, indexKey string) *tarindex.Index {
	t.Helper()
	ix, err := c.BuildTarIndex(bg, tBucket, tarKey)
	if err != nil {
		t.Fatal(err)
	}
	index, sums, err := EncodeTarIndex(ix)
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, c, indexKey, index)
	e.put(t, c, indexKey+PartChecksumSuffix, sums)
	return ix
}

func TestTarIndexAndContiguousRunReads(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	raw, want := makeTar(50, func(i int) int { return 200 + i*31 })
	e.put(t, c, "a.tar", raw)

	ix := putTarIndex(t, e, c, "a.tar", "a.idx")
	if len(ix.Members) != 50 || ix.TarETag == "" {
		t.Fatalf("index: %+v", ix)
	}
	ta, err := c.OpenTar(bg, tBucket, "a.tar", tBucket, "a.idx")
	if err != nil {
		t.Fatal(err)
	}
	if !ta.Index.Located() || !ta.Index.HasCRC {
		t.Fatal("the checksum file beside the index was not used")
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
		if r.Err != nil || !bytes.Equal(r.Data, want[indices[i]]) || r.Name != fmt.Sprintf("m/%03d.bin", indices[i]) {
			t.Fatalf("member %d: %q %v", indices[i], r.Name, r.Err)
		}
	}
	// runs: 10-13, 40, 3-4, 12 (again) -> 4 ranged reads
	if got := e.srv.SettledStats().Count("GetObject", 0); got != 4 {
		t.Fatalf("%d GETs for 4 runs", got)
	}
	// an index in our own encoding (written before upstream's was known) still opens
	e.put(t, c, "old.idx", ix.Marshal())
	if ta, err := c.OpenTar(bg, tBucket, "a.tar", tBucket, "old.idx"); err != nil || !ta.Index.HasCRC {
		t.Fatalf("our encoding: %v", err)
	}
	// the tar changes: our index no longer matches; upstream's, ending past the tar, neither
	e.put(t, c, "a.tar", raw[:len(raw)/2])
	if _, err := c.OpenTar(bg, tBucket, "a.tar", tBucket, "old.idx"); kindOf(err) != KindInvalid {
		t.Fatalf("stale index accepted: %v", err)
	}
	if _, err := c.OpenTar(bg, tBucket, "a.tar", tBucket, "a.idx"); kindOf(err) != KindInvalid {
		t.Fatalf("index past the end of the tar accepted: %v", err)
	}
	if _, err := c.OpenTar(bg, tBucket, "a.tar", tBucket, "no.idx"); kindOf(err) != KindNotFound {
		t.Fatalf("missing index: %v", err)
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
	putTarIndex(t, e, c, "c.tar", "c.idx")
	ta, err := c.OpenTar(bg, tBucket, "c.tar", tBucket, "c.idx")
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
	if got := e.srv.SettledStats().Count("GetObject", 0); got != 2 {
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

// An index upstream wrote has no checksum file: members are found by their
// tar headers (names included), a run is still one ranged read. A checksum
// file of an earlier tar under the key is ignored, not trusted.
func TestUpstreamIndexAloneOrWithAStaleChecksumFile(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	raw, want := makeTar(20, func(i int) int { return 100 + i*300 })
	e.put(t, c, "u.tar", raw)
	ix := putTarIndex(t, e, c, "u.tar", "u.idx")
	check := func(what string) {
		t.Helper()
		ta, err := c.OpenTar(bg, tBucket, "u.tar", tBucket, "u.idx")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ta.Index.Located() || ta.Index.HasCRC {
			t.Fatalf("%s: members taken from a checksum file that does not describe the tar", what)
		}
		e.srv.ResetStats()
		indices := []int{5, 6, 7, 19, 0}
		for k, r := range ta.Read(bg, indices) {
			i := indices[k]
			if r.Err != nil || !bytes.Equal(r.Data, want[i]) || r.Name != fmt.Sprintf("m/%03d.bin", i) {
				t.Fatalf("%s: member %d: %q %v", what, i, r.Name, r.Err)
			}
		}
		if got := e.srv.SettledStats().Count("GetObject", 0); got != 3 {
			t.Fatalf("%s: %d GETs for 3 runs", what, got)
		}
	}
	if err := c.Remove(bg, tBucket, "u.idx"+PartChecksumSuffix); err != nil {
		t.Fatal(err)
	}
	check("no checksum file")

	// the tar replaced by one of the same layout and other bytes: the file is stale
	e.put(t, c, "u.idx"+PartChecksumSuffix, ix.Marshal())
	raw = bytes.Clone(raw)
	raw[ix.Members[6].Offset] ^= 0xff
	want[6] = bytes.Clone(want[6])
	want[6][0] ^= 0xff
	e.put(t, c, "u.tar", raw)
	check("stale checksum file")

	// a checksum file that is not an index at all
	e.put(t, c, "u.idx"+PartChecksumSuffix, []byte("{}"))
	check("foreign checksum file")

	// a checksum file of another layout: left from an earlier index
	other, _ := makeTar(20, func(i int) int { return 700 + i })
	e.put(t, c, "o.tar", other)
	oix := putTarIndex(t, e, c, "o.tar", "o.idx")
	e.put(t, c, "u.idx"+PartChecksumSuffix, oix.Marshal())
	check("checksum file of another layout")

	// an index with its own checksum file, used for another tar: refused
	if _, err := c.OpenTar(bg, tBucket, "u.tar", tBucket, "o.idx"); kindOf(err) != KindInvalid {
		t.Fatalf("the index of another tar accepted: %v", err)
	}
}
