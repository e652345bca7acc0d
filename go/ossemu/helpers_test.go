package ossemu

import (
	"bytes"
	"context"
	"errors"
	"hash/crc64"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/retry"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
)

const (
	testAK     = "test-ak"
	testSK     = "test-secret-do-not-log"
	testRegion = "cn-hangzhou"
	testBucket = "bucket"
)

// newTestServer starts a server with one bucket and returns it with its URL.
func newTestServer(t *testing.T, mod func(*Options)) (*Server, string) {
	t.Helper()
	o := Options{Region: testRegion, AccessKeyID: testAK, AccessKeySecret: testSK, Buckets: []string{testBucket}, Admin: true}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

// newClient returns an SDK client for url, V4 unless cfgFns change it.
func newClient(url string, cfgFns ...func(*oss.Config)) *oss.Client {
	cfg := oss.LoadDefaultConfig().
		WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, testSK)).
		WithRegion(testRegion).WithEndpoint(url)
	for _, f := range cfgFns {
		f(cfg)
	}
	return oss.NewClient(cfg)
}

var bg = context.Background()

// withV1 makes a client sign with V1.
func withV1(cfg *oss.Config) { cfg.WithSignatureVersion(oss.SignatureVersionV1) }

// withRetries gives a client n attempts with a short fixed backoff, so retry
// tests do not wait for the SDK's exponential jitter.
func withRetries(n int) func(*oss.Config) {
	return func(cfg *oss.Config) {
		cfg.WithRetryer(retry.NewStandard(func(o *retry.RetryOptions) {
			o.MaxAttempts = n
			o.Backoff = retry.NewFixedDelayBackoff(20 * time.Millisecond)
		}))
	}
}

// noRetry makes a client try every request once.
func noRetry(cfg *oss.Config) { cfg.WithRetryer(retry.NopRetryer{}) }

// testData returns n deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func crcOf(b []byte) uint64 { return crc64.Update(0, crc64.MakeTable(crc64.ECMA), b) }

func mustPut(t *testing.T, c *oss.Client, bucket, key string, data []byte) *oss.PutObjectResult {
	t.Helper()
	res, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return res
}

func mustGet(t *testing.T, c *oss.Client, bucket, key string) []byte {
	t.Helper()
	res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("get %s/%s: reading body: %v", bucket, key, err)
	}
	return b
}

// wantServiceError asserts that err is an *oss.ServiceError with the given
// status and code and returns it.
func wantServiceError(t *testing.T, err error, status int, code string) *oss.ServiceError {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", status, code)
	}
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		t.Fatalf("want %d %s, got a non-service error: %v", status, code, err)
	}
	if se.StatusCode != status || se.Code != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, se.StatusCode, se.Code, se.Message)
	}
	if se.RequestID == "" {
		t.Fatalf("%s: service error without a request id", code)
	}
	return se
}

// signRequest signs req the way the SDK does, for tests that need a raw
// request (no retries, no clock correction, direct access to the response).
func signRequest(t *testing.T, req *http.Request, bucket, key string, v1 bool, ak, sk, token string) {
	t.Helper()
	cred := credentials.Credentials{AccessKeyID: ak, AccessKeySecret: sk, SecurityToken: token}
	sctx := &signer.SigningContext{Product: oss.Ptr("oss"), Region: oss.Ptr(testRegion), Request: req, Credentials: &cred}
	if bucket != "" {
		sctx.Bucket = oss.Ptr(bucket)
	}
	if key != "" {
		sctx.Key = oss.Ptr(key)
	}
	var s signer.Signer = &signer.SignerV4{}
	if v1 {
		s = &signer.SignerV1{}
	}
	if err := s.Sign(bg, sctx); err != nil {
		t.Fatal(err)
	}
}

// rawDo sends a signed path-style request and returns the response with its
// body read.
func rawDo(t *testing.T, method, base, bucket, key, rawQuery string, body []byte) (*http.Response, []byte) {
	t.Helper()
	u := base + "/" + bucket + "/"
	if key != "" {
		u += escapeKey(key)
	}
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	signRequest(t, req, bucket, key, false, testAK, testSK, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// escapeKey escapes a key for a URL path the way the SDK does.
func escapeKey(key string) string { return v4Escape(key, true) }

// recorder wraps a handler and remembers the Host, path and Authorization
// scheme of every request it passes on.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	seen []seenReq
}

type seenReq struct{ host, path, auth string }

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	rec.mu.Lock()
	rec.seen = append(rec.seen, seenReq{r.Host, r.URL.Path, scheme})
	rec.mu.Unlock()
	rec.h.ServeHTTP(w, r)
}

func (rec *recorder) requests() []seenReq {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seenReq(nil), rec.seen...)
}

// waitIdle waits until the server has no request in flight (with
// SettledStats), so that a test can inspect what a request whose client
// already gave up left behind, or change the faults without a request still
// running under the old ones. A server still busy then fails the test.
func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	if st := s.SettledStats(); st.Concurrent > 0 {
		t.Fatalf("server still busy: %d requests in flight", st.Concurrent)
	}
}

// readerOnly hides every method but Read, so the SDK sees a stream of
// unknown length that it cannot seek (and so cannot retry).
type readerOnly struct{ r io.Reader }

func (o readerOnly) Read(p []byte) (int, error) { return o.r.Read(p) }
