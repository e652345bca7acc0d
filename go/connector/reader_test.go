package connector

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

func TestReaderRandomAccessAndIntegrity(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readChunkSize":262144,"checkpointConfig":{"prefetchConcurrency":4}`)
	data := pattern(3<<20+12345, 3)
	e.put(t, c, "ckpt", data)
	r, err := c.OpenReader(bg, tBucket, "ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(data)) {
		t.Fatalf("size %d", r.Size())
	}
	// small reads at random places, a large read, sequential reads to EOF
	for _, off := range []int64{0, 7, 262143, 262144, 1 << 20, int64(len(data)) - 3} {
		p := make([]byte, 10)
		n, err := r.ReadAt(p, off)
		want := data[off:min(off+10, int64(len(data)))]
		if (err != nil && err != io.EOF) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d): %d %v", off, n, err)
		}
	}
	big := make([]byte, 2<<20)
	if n, err := r.ReadAt(big, 100); err != nil || n != len(big) || !bytes.Equal(big, data[100:100+len(big)]) {
		t.Fatalf("big read: %d %v", n, err)
	}
	r.Seek(0, io.SeekStart)
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("ReadAll: %v", err)
	}
	if pos, _ := r.Seek(-5, io.SeekEnd); pos != int64(len(data))-5 {
		t.Fatalf("SeekEnd: %d", pos)
	}
	r.Close()

	// resets during the reads are resumed
	e.faults(t, ossemu.Faults{Seed: 5, ResetRate: 0.5, ResetAfterBytes: 1000, Ops: []string{"GetObject"}, FaultLimit: 10})
	r, _ = c.OpenReader(bg, tBucket, "ckpt")
	if all, err = io.ReadAll(r); err != nil || !bytes.Equal(all, data) {
		t.Fatalf("with resets: %v", err)
	}
	r.Close()

	// a flipped byte in every GET: reading the whole object ends in an integrity error
	e.faults(t, ossemu.Faults{Seed: 6, FlipRate: 1, Ops: []string{"GetObject"}})
	r, _ = c.OpenReader(bg, tBucket, "ckpt")
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("flips not detected: %v", err)
	}
	r.Close()
}

// torch.load reads a checkpoint as a zip: a record's 30-byte header, then its
// data a few bytes further on. Such a forward skip (less than a chunk) still
// counts as sequential: the chunks after the read are fetched ahead.
func TestReaderReadsAheadOverSmallForwardSkips(t *testing.T) {
	e := newEnv(t)
	const chunk = 256 << 10
	c := e.client(t, fmt.Sprintf(`,"readChunkSize":%d,"checkpointConfig":{"prefetchConcurrency":8}`, chunk))
	data := pattern(12*chunk+100, 6)
	e.put(t, c, "zip", data)
	r, err := c.OpenReader(bg, tBucket, "zip")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e.srv.ResetStats()
	hdr, rec := make([]byte, 30), make([]byte, chunk)
	if _, err := r.ReadAt(hdr, 0); err != nil { // a header: chunk 0
		t.Fatal(err)
	}
	if _, err := r.ReadAt(rec, 64); err != nil || !bytes.Equal(rec, data[64:64+chunk]) { // its data: chunks 0-1
		t.Fatal(err)
	}
	// chunks 2..5 (half of the 8-chunk cache) are fetched ahead, without a read asking
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Stats().Count("GetObject", 0) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d GETs: nothing was read ahead", e.srv.Stats().Count("GetObject", 0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := r.ReadAt(hdr, 11*chunk); err != nil { // elsewhere (one GET), so the next read is not sequential
		t.Fatal(err)
	}
	got := make([]byte, 2*chunk)
	if _, err := r.ReadAt(got, 2*chunk); err != nil || !bytes.Equal(got, data[2*chunk:4*chunk]) {
		t.Fatalf("read after read-ahead: %v", err)
	}
	if n := e.srv.SettledStats().Count("GetObject", 0); n != 7 {
		t.Fatalf("%d GETs for chunks 0-5 and 11, want 7: chunks read ahead were fetched again", n)
	}
}

// torch.load reads each large record in one call spanning several chunks.
// Read-ahead started by such a read must not evict the chunks the read is
// still copying out, or they are fetched twice: every byte crosses the
// network once.
func TestReaderFetchesEachByteOnceUnderLargeSequentialReads(t *testing.T) {
	e := newEnv(t)
	const chunk = 64 << 10
	c := e.client(t, fmt.Sprintf(`,"readChunkSize":%d,"checkpointConfig":{"prefetchConcurrency":16}`, chunk))
	data := pattern(48*chunk, 9)
	e.put(t, c, "big", data)
	r, err := c.OpenReader(bg, tBucket, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	e.srv.SettledStats()
	e.srv.ResetStats()
	const record = 8*chunk - 100 // a header, then a record of about eight chunks, over and over
	hdr, rec := make([]byte, 30), make([]byte, record)
	for off := int64(0); off+30+record <= int64(len(data)); off += 30 + record {
		if _, err := r.ReadAt(hdr, off); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(rec, off+30); err != nil || !bytes.Equal(rec, data[off+30:off+30+record]) {
			t.Fatalf("record at %d: %v", off, err)
		}
	}
	r.Close() // stops read-ahead past the last record
	if st := e.srv.SettledStats(); st.BytesOut > int64(len(data)) {
		t.Fatalf("%d bytes sent for a %d-byte object: chunks were fetched twice", st.BytesOut, len(data))
	}
}
