package connector

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

// flipUploads damages one byte of the body of the first `times` uploads
// (PutObject, UploadPart: every PUT) on their way to the server, which then
// stores, and reports the CRC-64 of, other bytes than the client sent.
type flipUploads struct {
	next  http.Handler
	times int64 // < 0: every upload
	n     atomic.Int64
}

func (h *flipUploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && (h.times < 0 || h.n.Add(1) <= h.times) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > 0 {
			body[len(body)/2] ^= 0x10
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	h.next.ServeHTTP(w, r)
}

func (e *env) behind(t *testing.T, h http.Handler) {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	e.url = ts.URL
}

// The SDK's own upload check is off (it would checksum every attempt
// again): the writer and Put compare OSS's CRC-64 of what it received with
// their own, retry a damaged upload, and fail when it stays damaged.
func TestUploadsDamagedOnTheWayAreCaught(t *testing.T) {
	data := pattern(3*MinPartSize+12345, 31)
	write := func(c *Client, key string) error {
		w, err := c.NewWriter(bg, tBucket, key, WriterOptions{PartSize: MinPartSize, Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			w.Abort()
			return err
		}
		return w.Close()
	}

	e := newEnv(t)
	e.behind(t, &flipUploads{next: e.srv, times: 1})
	c := e.client(t, "")
	if err := write(c, "once"); err != nil {
		t.Fatalf("one damaged part is sent again: %v", err)
	}
	if got, err := c.Get(bg, tBucket, "once"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content after a damaged part: %v", err)
	}

	e = newEnv(t)
	e.behind(t, &flipUploads{next: e.srv, times: -1})
	c = e.client(t, `,"maxAttempts":2`)
	if err := write(c, "always"); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("parts damaged every time: %v, want an integrity error", err)
	}
	if _, err := c.Stat(bg, tBucket, "always"); !isNotFound(err) {
		t.Fatalf("a failed upload left an object: %v", err)
	}
	if err := c.Put(bg, tBucket, "put", data[:1000]); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Put damaged every time: %v, want an integrity error", err)
	}

	e = newEnv(t)
	e.behind(t, &flipUploads{next: e.srv, times: 1})
	c = e.client(t, "")
	if err := c.Put(bg, tBucket, "put", data[:1000]); err != nil {
		t.Fatalf("Put damaged once: %v", err)
	}
	if got, err := c.Get(bg, tBucket, "put"); err != nil || !bytes.Equal(got, data[:1000]) {
		t.Fatalf("content after a damaged Put: %v", err)
	}
}

func TestSlabReaderReadsThePartInOrderAndSeeks(t *testing.T) {
	data := pattern(10_000, 3)
	slabs := [][]byte{data[:4096], data[4096:8192], data[8192:]}
	r := newSlabReader(slabs)
	var got []byte
	buf := make([]byte, 1000) // reads straddle slab boundaries
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("slabs read back differ")
	}
	if pos, err := r.Seek(-10, io.SeekEnd); err != nil || pos != 9990 {
		t.Fatalf("seek: %d %v", pos, err)
	}
	if rest, _ := io.ReadAll(r); !bytes.Equal(rest, data[9990:]) {
		t.Fatal("read after seek")
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative position accepted")
	}
}

func TestWriterSmallLargeAbortAndFaults(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	write := func(key string, data []byte, o WriterOptions) error {
		w, err := c.NewWriter(bg, tBucket, key, o)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); off += 70001 {
			if _, err := w.Write(data[off:min(off+70001, len(data))]); err != nil {
				w.Abort()
				return err
			}
		}
		return w.Close()
	}
	// small: one PUT
	e.srv.ResetStats()
	small := pattern(1000, 7) // below one part: a single PUT
	if err := write("w/small", small, WriterOptions{PartSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if st := e.srv.Stats(); st.Count("PutObject", 200) != 1 || st.Count("InitiateMultipartUpload", 0) != 0 {
		t.Fatalf("small write: %v", st.Requests)
	}
	// large: multipart, 2 parts in flight, with resets and a 500 on some parts
	e.faults(t, ossemu.Faults{Seed: 9, ResetRate: 0.3, ResetAfterBytes: 5000, ErrorRate500: 0.2, Ops: []string{"UploadPart"}, FaultLimit: 6})
	e.srv.ResetStats()
	large := pattern(5<<20+333, 8)
	if err := write("w/large", large, WriterOptions{PartSize: 1 << 20, Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	st := e.srv.Stats()
	if st.Count("CompleteMultipartUpload", 200) != 1 || st.Count("UploadPart", 200) != 6 || st.FaultsInjected == 0 {
		t.Fatalf("large write: %v (faults %d)", st.Requests, st.FaultsInjected)
	}
	e.faults(t, ossemu.Faults{})
	if got, err := c.Get(bg, tBucket, "w/large"); err != nil || !bytes.Equal(got, large) {
		t.Fatalf("large content: %v", err)
	}
	// abort: nothing visible, no upload left
	w, _ := c.NewWriter(bg, tBucket, "w/aborted", WriterOptions{PartSize: 1 << 20})
	w.Write(pattern(2<<20+5, 9))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(bg, tBucket, "w/aborted"); kindOf(err) != KindNotFound {
		t.Fatalf("aborted object visible: %v", err)
	}
	if _, err := w.Write([]byte("x")); kindOf(err) != KindInvalid {
		t.Fatalf("write after abort: %v", err)
	}
	// a part that fails for good: Close fails, nothing visible
	e.faults(t, ossemu.Faults{ErrorRate500: 1, Ops: []string{"UploadPart"}})
	if err := write("w/failed", large, WriterOptions{PartSize: 1 << 20, Concurrency: 2}); err == nil {
		t.Fatal("write with failing parts succeeded")
	}
	e.faults(t, ossemu.Faults{})
	if _, err := c.Stat(bg, tBucket, "w/failed"); kindOf(err) != KindNotFound {
		t.Fatalf("failed object visible: %v", err)
	}
}

func TestPartSizeRuleCoversTheMaximumObject(t *testing.T) {
	for _, base := range []int64{MinPartSize, 8 << 20, 64 << 20, MaxPartSize} {
		var written int64
		var n int
		for written < MaxObjectSize {
			n++
			written += PartSize(base, written, 0)
		}
		if n > MaxParts {
			t.Fatalf("base %d: %d bytes need %d parts", base, int64(MaxObjectSize), n)
		}
		if PartSize(base, 0, 0) != max(base, MinPartSize) {
			t.Fatalf("first part must be the base size")
		}
	}
	if got := PartSize(8<<20, 0, 1<<40); got*MaxParts < 1<<40 {
		t.Fatalf("hinted part size %d too small", got)
	}
	// the first GiBs are written with base-sized parts (memory stays low)
	if PartSize(8<<20, 400<<20, 0) != 8<<20 {
		t.Fatal("part size grew too early")
	}
}

// slowComplete answers CompleteMultipartUpload only after the client gave up
// waiting, but completes it right away, as OSS does when a client drops.
type slowComplete struct {
	next  http.Handler
	delay time.Duration
	once  sync.Once
}

func (h *slowComplete) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
		first := false
		h.once.Do(func() { first = true })
		if first {
			rec := httptest.NewRecorder()
			h.next.ServeHTTP(rec, r) // the upload is completed now...
			time.Sleep(h.delay)      // ...but the answer comes too late
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

func TestCompleteThatOutlivesTheClientTimeoutStillSucceeds(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewServer(&slowComplete{next: e.srv, delay: 1500 * time.Millisecond})
	defer ts.Close()
	e.url = ts.URL
	c := e.client(t, `,"readWriteTimeoutMs":300`)
	data := pattern(3<<20, 21)
	// exclusive: the retried Complete finds the first one's object in the way (FileAlreadyExists), not no upload
	for _, exclusive := range []bool{false, true} {
		key := fmt.Sprintf("slow-complete-%v", exclusive)
		w, err := c.NewWriter(bg, tBucket, key, WriterOptions{PartSize: 1 << 20, Concurrency: 2, Exclusive: exclusive})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatalf("exclusive=%v: close: %v", exclusive, err)
		}
		if got, err := c.Get(bg, tBucket, key); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("exclusive=%v: content: %v", exclusive, err)
		}
	}
}

// An exclusive writer (WriterOptions.Exclusive, the fsspec filesystem's
// "xb") creates a new object, with one PUT or in parts, and refuses a key
// that has one: Close fails with FileAlreadyExists and the object there is
// left as it was.
func TestExclusiveWriterCreatesButNeverReplaces(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	write := func(key string, data []byte) error {
		w, err := c.NewWriter(bg, tBucket, key, WriterOptions{PartSize: 1 << 20, Concurrency: 2, Exclusive: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			w.Abort()
			return err
		}
		return w.Close()
	}
	for _, n := range []int{1000, 3<<20 + 7} { // one PUT; a multipart upload
		key := fmt.Sprintf("excl/%d", n)
		first, second := pattern(n, 1), pattern(n, 2)
		if err := write(key, first); err != nil {
			t.Fatalf("%d bytes, new key: %v", n, err)
		}
		err := write(key, second)
		var ce *Error
		if !errors.As(err, &ce) || ce.Code != CodeAlreadyExists {
			t.Fatalf("%d bytes, existing key: %v", n, err)
		}
		if got, err := c.Get(bg, tBucket, key); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("%d bytes: the object was replaced (%v)", n, err)
		}
	}
}

// loseFirstAnswer stores the first exclusive PUT but answers it with a 500,
// as when the answer is lost on the way: the client retries, and finds its
// own object in the way.
type loseFirstAnswer struct {
	next http.Handler
	lost atomic.Bool
}

func (h *loseFirstAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.Header.Get("X-Oss-Forbid-Overwrite") == "true" && !h.lost.Swap(true) {
		h.next.ServeHTTP(httptest.NewRecorder(), r)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.next.ServeHTTP(w, r)
}

func TestExclusivePutRetriedAfterALostAnswerSucceeds(t *testing.T) {
	e := newEnv(t)
	e.behind(t, &loseFirstAnswer{next: e.srv})
	c := e.client(t, "")
	data := pattern(5000, 3)
	w, err := c.NewWriter(bg, tBucket, "excl/retried", WriterOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got, err := c.Get(bg, tBucket, "excl/retried"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content: %v", err)
	}
	if err := c.put(bg, tBucket, "excl/retried", pattern(5000, 4), true); kindOf(err) != KindService {
		t.Fatalf("exclusive put over another object: %v", err)
	}
}

// Every part buffer counts against the writer's budget (Concurrency x the
// first part size): the one being filled, those in flight and idle ones kept
// for reuse, also once parts have grown past the first size. Grown parts
// reuse the same slabs: no more are ever allocated than the budget holds,
// so none is left as garbage.
func TestWriterBuffersStayWithinTheBudgetAsPartsGrow(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.faults(t, ossemu.Faults{LatencyMs: 5, Ops: []string{"UploadPart"}}) // keep parts in flight
	const conc, base = 4, MinPartSize
	w, err := c.NewWriter(bg, tBucket, "w/grown", WriterOptions{PartSize: base, Concurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	total := growthDivisor*base + 12*base // parts grow over the last 12 MiB
	chunk := pattern(300_001, 5)
	var crc uint64
	for n := 0; n < total; n += len(chunk) {
		p := chunk[:min(len(chunk), total-n)]
		crc = crc64.Update(crc, crcTable, p)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.partSize() == base {
		t.Fatal("parts never grew: the test proves nothing")
	}
	if w.peak > conc*base {
		t.Fatalf("part buffers peaked at %d bytes, budget %d", w.peak, conc*base)
	}
	if w.allocs > conc {
		t.Fatalf("%d slabs allocated, the budget holds %d: buffers were dropped and replaced", w.allocs, conc)
	}
	e.faults(t, ossemu.Faults{})
	got, err := c.Get(bg, tBucket, "w/grown")
	if err != nil || len(got) != total || crc64.Checksum(got, crcTable) != crc {
		t.Fatalf("object: %v, %d bytes, want %d", err, len(got), total)
	}
}

// While a writer is open the process runs under a soft memory limit of what
// it held before plus the writers' budgets, so that buffers dropped as parts
// grow are collected before the RSS passes the budget; closing the last
// writer restores the previous limit (none).
func TestWritersSetAndRestoreASoftMemoryLimit(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" || os.Getenv("GOGC") != "" {
		t.Skip("GOMEMLIMIT or GOGC set: the writer leaves the runtime alone")
	}
	e := newEnv(t)
	c := e.client(t, "")
	before := debug.SetMemoryLimit(-1)
	w1, _ := c.NewWriter(bg, tBucket, "m/1", WriterOptions{PartSize: 8 << 20, Concurrency: 4})
	l1 := debug.SetMemoryLimit(-1)
	w2, _ := c.NewWriter(bg, tBucket, "m/2", WriterOptions{PartSize: 8 << 20, Concurrency: 8})
	l2 := debug.SetMemoryLimit(-1)
	if l1 == before || l1 == math.MaxInt64 || l2-l1 < 64<<20 || l2-l1 > 80<<20 {
		t.Fatalf("limits: none %d, one writer (32 MiB budget) %d, two (+64 MiB) %d", before, l1, l2)
	}
	w2.Abort()
	if got := debug.SetMemoryLimit(-1); got != l1 {
		t.Fatalf("after one writer ended the limit is %d, want %d", got, l1)
	}
	w1.Write([]byte("x"))
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("after the last writer the limit is %d, want the previous %d", got, before)
	}
}
