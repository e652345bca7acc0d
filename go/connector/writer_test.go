package connector

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
