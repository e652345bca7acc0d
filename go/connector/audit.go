package connector

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// auditTransport times every request and writes the slow ones, and those
// that failed or were refused (HTTP 4xx/5xx), to the audit log, one JSON
// line each, when the response body is closed. It also keeps the client's
// Stats.
type auditTransport struct {
	next      http.RoundTripper
	audit     *zap.Logger
	threshold time.Duration
	stats     *statsCollector
}

func (t *auditTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	t.stats.begin(req)
	resp, err := t.next.RoundTrip(req)
	t.stats.headers(resp, err, time.Since(start))
	if err != nil {
		t.stats.end(0)
		t.record(req, nil, start, 0, err)
		return nil, err
	}
	resp.Body = &auditBody{ReadCloser: resp.Body, t: t, req: req, resp: resp, start: start}
	return resp, nil
}

type auditBody struct {
	io.ReadCloser
	t     *auditTransport
	req   *http.Request
	resp  *http.Response
	start time.Time
	n     int64
	once  sync.Once
}

func (b *auditBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *auditBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.t.stats.end(b.n)
		b.t.record(b.req, b.resp, b.start, b.n, nil)
	})
	return err
}

func (t *auditTransport) record(req *http.Request, resp *http.Response, start time.Time, n int64, err error) {
	d := time.Since(start)
	if d < t.threshold && err == nil && resp.StatusCode < 400 {
		return // fast and fine; failures are recorded whatever they took
	}
	bucket, key := splitTarget(req)
	fields := []zap.Field{zap.String("op", opName(req)), zap.String("bucket", bucket), zap.String("key", key),
		zap.String("range", req.Header.Get("Range")), zap.Int64("bytes", n), zap.Duration("latency", d)}
	if resp != nil {
		fields = append(fields, zap.Int("status", resp.StatusCode), zap.String("request_id", resp.Header.Get("x-oss-request-id")))
		if req.ContentLength > 0 {
			fields = append(fields, zap.Int64("bytes_sent", req.ContentLength))
		}
	} else {
		fields = append(fields, zap.Int("status", 0), zap.String("error", redact(err.Error())))
	}
	t.audit.Info("request", fields...)
}

// splitTarget recovers bucket and key from a request URL in either style.
func splitTarget(req *http.Request) (string, string) {
	path := strings.TrimPrefix(req.URL.Path, "/")
	host := req.URL.Hostname()
	if i := strings.IndexByte(host, '.'); i > 0 && net.ParseIP(host) == nil && !strings.HasPrefix(host, "oss-") {
		return host[:i], path
	}
	b, k, _ := strings.Cut(path, "/")
	return b, k
}

// opName names a request like the SDK does, from its method and query.
func opName(req *http.Request) string {
	q := req.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch req.Method {
	case http.MethodGet:
		switch {
		case q.Get("list-type") == "2":
			return "ListObjectsV2"
		case has("uploadId"):
			return "ListParts"
		}
		return "GetObject"
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber"):
			return "UploadPart"
		case req.Header.Get("x-oss-copy-source") != "":
			return "CopyObject"
		}
		return "PutObject"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "InitiateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("append"):
			return "AppendObject"
		case has("delete"):
			return "DeleteMultipleObjects"
		}
	case http.MethodDelete:
		if has("uploadId") {
			return "AbortMultipartUpload"
		}
		return "DeleteObject"
	}
	return req.Method
}
