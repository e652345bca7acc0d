package connector

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"strings"
	"testing"

	"osstorchconnector/go/ossemu"
)

func writeObject(t *testing.T, c *Client, key string, data []byte) {
	t.Helper()
	w, err := c.NewWriter(bg, tBucket, key, WriterOptions{PartSize: MinPartSize, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkedReads reads the object at offsets that start and end inside parts
// (through the cache), and across whole parts (straight into the buffer):
// every read must return the object's bytes or fail with ErrIntegrity.
func checkedReads(t *testing.T, r *Reader, data []byte) (failed int) {
	t.Helper()
	for _, rd := range [][2]int64{{10, 100}, {MinPartSize - 5, 10}, {3*MinPartSize + 7, 2*MinPartSize + 1}, {0, int64(len(data))}} {
		p := make([]byte, rd[1])
		n, err := r.ReadAt(p, rd[0])
		switch {
		case errors.Is(err, ErrIntegrity):
			failed++
		case err != nil:
			t.Fatalf("ReadAt(%d, %d): %v", rd[0], rd[1], err)
		case !bytes.Equal(p[:n], data[rd[0]:rd[0]+int64(n)]):
			t.Fatalf("ReadAt(%d, %d) returned corrupt bytes", rd[0], rd[1])
		}
	}
	return failed
}

// OSS gives no checksum for a range: without the part checksum file a
// random read hands out a chunk before anything can check it. With it, every
// part is checked before any of its bytes leave the reader.
func TestReaderChecksEachPartBeforeHandingItOut(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":262144,"checkpointConfig":{"prefetchConcurrency":8}`)
	data := pattern(6*MinPartSize+12345, 9)
	writeObject(t, c, "ckpt.pt", data)
	sums, err := c.Get(bg, tBucket, "ckpt.pt"+PartChecksumSuffix)
	if err != nil {
		t.Fatalf("no part checksum file: %v", err)
	}
	if !strings.Contains(string(sums), `"partSizes":[1048576,1048576,1048576,1048576,1048576,1048576,12345]`) {
		t.Fatalf("part checksum file: %s", sums)
	}

	// one flipped GET: the damaged part is fetched again, no read fails
	e.faults(t, ossemu.Faults{FlipRate: 1, FaultLimit: 1, Ops: []string{"GetObject"}, KeyPattern: "ckpt.pt"})
	r, err := c.OpenReader(bg, tBucket, "ckpt.pt")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.units); n != 7 || !r.units[6].known {
		t.Fatalf("%d units (known: %v), want the 7 parts", n, r.units[n-1].known)
	}
	if failed := checkedReads(t, r, data); failed != 0 {
		t.Fatalf("%d reads failed after one flipped response", failed)
	}
	r.Close()

	// every GET flipped: reads fail, none returns a corrupt byte
	e.faults(t, ossemu.Faults{FlipRate: 1, Ops: []string{"GetObject"}, KeyPattern: "ckpt.pt"})
	r, _ = c.OpenReader(bg, tBucket, "ckpt.pt")
	if failed := checkedReads(t, r, data); failed != 4 {
		t.Fatalf("%d of 4 reads failed with every response flipped", failed)
	}
	r.Close()

	// small sequential reads in a part: the part and the next one are
	// fetched once, also where two parts do not fit the reader's bound (the
	// parts are then cut into chunks): read-ahead must not evict the part
	// being read, or each read fetches it again
	e.faults(t, ossemu.Faults{})
	small := e.client(t, `,"readChunkSize":262144,"checkpointConfig":{"prefetchConcurrency":4}`)
	for _, cl := range []*Client{c, small} {
		r, _ = cl.OpenReader(bg, tBucket, "ckpt.pt")
		e.srv.ResetStats()
		p := make([]byte, 4096)
		for off := int64(0); off < 128<<10; off += 4096 {
			if _, err := r.ReadAt(p, off); err != nil || !bytes.Equal(p, data[off:off+4096]) {
				t.Fatalf("ReadAt(%d): %v", off, err)
			}
		}
		if n := e.srv.SettledStats().Count("GetObject", 0); n > 8 {
			t.Fatalf("%d GETs for 32 small reads in one part, want at most 8 (2 parts of 4 ranges)", n)
		}
		r.Close()
	}
}

// An object no larger than the reader's cache is fetched and checked whole
// against its own CRC-64 (no checksum file needed).
func TestReaderChecksASmallObjectWholeBeforeHandingItOut(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":262144,"checkpointConfig":{"prefetchConcurrency":8}`)
	data := pattern(2<<20-3, 4) // the cache holds 8 x 256 KiB
	e.put(t, c, "small", data)
	e.faults(t, ossemu.Faults{FlipRate: 1, FaultLimit: 1, Ops: []string{"GetObject"}})
	r, err := c.OpenReader(bg, tBucket, "small")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.units) != 1 || !r.units[0].known {
		t.Fatalf("units %+v, want one checked unit", r.units)
	}
	p := make([]byte, 100)
	if _, err := r.ReadAt(p, 1<<20); err != nil || !bytes.Equal(p, data[1<<20:1<<20+100]) {
		t.Fatalf("read after a flipped response: %v", err)
	}
	e.faults(t, ossemu.Faults{FlipRate: 1, Ops: []string{"GetObject"}})
	r.Close()
	r, _ = c.OpenReader(bg, tBucket, "small")
	if _, err := r.ReadAt(p, 5); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("every response flipped: %v", err)
	}
}

// A checksum file that does not describe the object (left from an earlier
// object under the key, or edited) is ignored, never trusted.
func TestAStaleOrForeignPartChecksumFileIsIgnored(t *testing.T) {
	parts := []partSum{{3, crc64.Checksum([]byte("abc"), crcTable)}, {2, crc64.Checksum([]byte("de"), crcTable)}}
	whole := crc64.Checksum([]byte("abcde"), crcTable)
	good, err := encodePartChecksums(parts, whole)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodePartChecksums(good, 5, whole); err != nil || len(got) != 2 || got[1] != parts[1] {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for name, tc := range map[string]struct {
		data  string
		size  int64
		whole uint64
	}{
		"other size":           {string(good), 6, whole},
		"other crc":            {string(good), 5, whole + 1},
		"sizes add up to more": {strings.Replace(string(good), `[3,2]`, `[3,3]`, 1), 5, whole},
		"not json":             {"{", 5, whole},
		"other format":         {strings.Replace(string(good), "part-crc64/1", "part-crc64/9", 1), 5, whole},
		"missing a crc":        {fmt.Sprintf(`{"format":%q,"size":5,"crc64":"%d","partSizes":[5],"partCrc64":[]}`, partChecksumFormat, whole), 5, whole},
		"negative size":        {fmt.Sprintf(`{"format":%q,"size":5,"crc64":"%d","partSizes":[6,-1],"partCrc64":["1","2"]}`, partChecksumFormat, whole), 5, whole},
		"crc not decimal":      {strings.Replace(string(good), `"crc64":"`, `"crc64":"x`, 1), 5, whole},
		"parts do not add up":  {strings.Replace(string(good), fmt.Sprintf(`"%d"]`, parts[1].crc), fmt.Sprintf(`"%d"]`, parts[1].crc^1), 1), 5, whole},
	} {
		if got, err := decodePartChecksums([]byte(tc.data), tc.size, tc.whole); err == nil {
			t.Errorf("%s: accepted %v", name, got)
		}
	}

	// end to end: an object replaced by one without a file keeps the old
	// file, which no longer matches; reads fall back to the combined check
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":262144,"checkpointConfig":{"prefetchConcurrency":4}`)
	writeObject(t, c, "k", pattern(3*MinPartSize, 1))
	data := pattern(3*MinPartSize, 2)
	if err := e.srv.Put(tBucket, "k", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	r, err := c.OpenReader(bg, tBucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, u := range r.units {
		if u.known {
			t.Fatalf("a stale checksum file was used: %+v", r.units)
		}
	}
	if got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size())); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v", err)
	}
}

// The file goes where its object goes, and only when the writer is asked to
// write it.
func TestPartChecksumFileFollowsItsObject(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	data := pattern(2*MinPartSize+1, 3)
	writeObject(t, c, "a", data)
	if err := c.Rename(bg, tBucket, "a", tBucket, "b"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"a": false, "a" + PartChecksumSuffix: false, "b": true, "b" + PartChecksumSuffix: true} {
		if _, err := c.Stat(bg, tBucket, key); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", key, err == nil, want)
		}
	}
	if err := c.Remove(bg, tBucket, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(bg, tBucket, "b"+PartChecksumSuffix); kindOf(err) != KindNotFound {
		t.Fatalf("checksum file after Remove: %v", err)
	}

	off := e.client(t, `,"checkpointConfig":{"disablePartChecksums":true}`)
	writeObject(t, off, "c", data)
	if _, err := c.Stat(bg, tBucket, "c"+PartChecksumSuffix); kindOf(err) != KindNotFound {
		t.Fatalf("disablePartChecksums: %v", err)
	}
}

// A part checksum file comes from the bucket: anything may be in it. What
// decodePartChecksums accepts must describe exactly the object it was asked
// about (sizes that are positive, within OSS's limits and add up to the
// object's size) and survive a round trip; nothing may panic.
func FuzzDecodePartChecksums(f *testing.F) {
	good, _ := encodePartChecksums([]partSum{{3, 11}, {2, 7}}, 42)
	f.Add(good, int64(5), uint64(42))
	f.Add([]byte(`{"format":"osstorchconnector/part-crc64/1","size":1,"crc64":"1","partSizes":[1],"partCrc64":["18446744073709551615"]}`), int64(1), uint64(1))
	f.Add([]byte(`{"format":"osstorchconnector/part-crc64/1","size":0,"crc64":"0","partSizes":[],"partCrc64":[]}`), int64(0), uint64(0))
	f.Add([]byte(`{"partSizes":[9223372036854775807,1],"partCrc64":["1","2"]}`), int64(-9223372036854775808), uint64(0))
	f.Add([]byte(`{"format":"osstorchconnector/part-crc64/1","size":5,"crc64":"42","partSizes":[3,2],"partCrc64":["-1","1e3"]}`), int64(5), uint64(42))
	f.Add([]byte(`[`), int64(0), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, size int64, crc uint64) {
		parts, err := decodePartChecksums(data, size, crc)
		if err != nil {
			return
		}
		if len(parts) == 0 || len(parts) > MaxParts {
			t.Fatalf("accepted %d parts", len(parts))
		}
		var total int64
		for _, p := range parts {
			if p.size <= 0 || p.size > MaxPartSize {
				t.Fatalf("accepted a part of %d bytes", p.size)
			}
			total += p.size
		}
		if total != size {
			t.Fatalf("accepted parts of %d bytes for an object of %d", total, size)
		}
		again, err := encodePartChecksums(parts, crc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodePartChecksums(again, size, crc)
		if err != nil || len(back) != len(parts) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range back {
			if back[i] != parts[i] {
				t.Fatalf("round trip: part %d is %+v, was %+v", i, back[i], parts[i])
			}
		}
	})
}
