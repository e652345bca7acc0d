package connector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/transport"
)

// A pooled connection idle for longer than the read/write timeout must still
// write: the timeout is about a stalled peer, not about time in the pool.
func TestIdleConnectionWritesAfterTheTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	timeout := 150 * time.Millisecond
	hc := transport.NewHttpClient(&transport.Config{ReadWriteTimeout: &timeout})
	dial := refreshDeadlines(hc.Transport.(*http.Transport).DialContext, timeout)
	c, err := dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timeout)
	if _, err := c.Write([]byte("after idling")); err != nil {
		t.Fatalf("write after idling past the timeout: %v", err)
	}
}

// nothingWritten stands for net/http's private wrapper of a failed request
// write.
type nothingWritten struct{ error }

func (e nothingWritten) Unwrap() error { return e.error }

func TestWrappedTimeoutsAreRetryable(t *testing.T) {
	r := newRetryer(5, nil)
	timeout := &url.Error{Op: "Get", URL: "http://x/b/k", Err: nothingWritten{&net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}}}
	if !r.IsErrorRetryable(timeout) {
		t.Fatal("a write timeout wrapped by net/http is not retried")
	}
	if r.IsErrorRetryable(&url.Error{Op: "Get", URL: "http://x/b/k", Err: errors.New("unsupported protocol scheme")}) {
		t.Fatal("a permanent error is retried")
	}
}

func TestStallLongerThanTheReadTimeoutIsResumed(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"readWriteTimeoutMs":300`)
	data := pattern(200000, 4)
	e.put(t, c, "s", data)
	e.faults(t, ossemu.Faults{StallRate: 1, StallMs: 3000, StallAfterBytes: 50000, Ops: []string{"GetObject"}, FaultLimit: 1})
	got, err := c.Get(bg, tBucket, "s")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stall: %v", err)
	}
}
