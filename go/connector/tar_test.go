package connector

import (
	"archive/tar"
	"bytes"
	"fmt"
	"testing"

	"osstorchconnector/go/tarindex"
)

func TestTarIndexAndContiguousRunReads(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var want [][]byte
	for i := 0; i < 50; i++ {
		data := pattern(200+i*31, byte(i))
		want = append(want, data)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("m/%03d.bin", i), Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	e.put(t, c, "a.tar", buf.Bytes())

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
	if got := e.srv.Stats().Count("GetObject", 0); got != 4 {
		t.Fatalf("%d GETs for 4 runs", got)
	}
	// the tar changes: the index no longer matches
	e.put(t, c, "a.tar", append(buf.Bytes(), make([]byte, 512)...))
	if _, err := c.OpenTar(bg, tBucket, "a.tar", parsed); kindOf(err) != KindInvalid {
		t.Fatalf("stale index accepted: %v", err)
	}
	// not a tar
	e.put(t, c, "not.tar", bytes.Repeat([]byte("garbage!"), 300))
	if _, err := c.BuildTarIndex(bg, tBucket, "not.tar"); kindOf(err) != KindInvalid {
		t.Fatalf("garbage indexed: %v", err)
	}
}
