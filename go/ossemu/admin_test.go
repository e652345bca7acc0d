package ossemu

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func adminDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminDisabled(t *testing.T) {
	t.Parallel()
	for _, anonymous := range []bool{false, true} {
		srv, u := newTestServer(t, func(o *Options) { o.Admin = false; o.Anonymous = anonymous })
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/_ossemu/stats", ""},
			{"POST", "/_ossemu/stats/reset", ""},
			{"GET", "/_ossemu/faults", ""},
			{"PUT", "/_ossemu/faults", `{"error_rate_500": 1}`},
			{"PUT", "/_ossemu/buckets/made-by-admin", ""},
			{"POST", "/_ossemu/fill?bucket=" + testBucket + "&count=3&size=10", ""},
		} {
			status, body := adminDo(t, r.method, u+r.path, r.body)
			// Without the admin endpoint the path is an ordinary (and invalid)
			// bucket: an OSS error, 403 (unsigned), 404 (anonymous: no such
			// bucket) or 501 (no such operation).
			if status != 403 && status != 404 && status != 501 || !strings.Contains(body, "<Error>") {
				t.Fatalf("anonymous=%v %s %s: %d %s", anonymous, r.method, r.path, status, body)
			}
		}
		if f := srv.Faults(); f.ErrorRate500 != 0 {
			t.Fatal("faults changed through a disabled admin endpoint")
		}
		if n := srv.Stats().Objects; n != 0 {
			t.Fatalf("%d objects stored through a disabled admin endpoint", n)
		}
		if srv.store.bucket("made-by-admin") != nil {
			t.Fatal("bucket created through a disabled admin endpoint")
		}
	}
}

func TestAdminEnabled(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	mustPut(t, c, testBucket, "k", []byte("v"))

	status, body := adminDo(t, "GET", u+"/_ossemu/stats", "")
	if status != 200 || !strings.Contains(body, `"PutObject":{"200":1}`) || !strings.Contains(body, `"bytes_in":1`) {
		t.Fatalf("stats: %d %s", status, body)
	}
	status, body = adminDo(t, "POST", u+"/_ossemu/stats/reset", "")
	if status != 200 || strings.Contains(body, "PutObject") || srv.SettledStats().BytesIn != 0 {
		t.Fatalf("reset: %d %s", status, body)
	}

	// Faults: set, read back, and seen by clients.
	status, body = adminDo(t, "PUT", u+"/_ossemu/faults", `{"seed": 7, "error_rate_500": 1, "ops": ["GetObject"], "fault_limit": 1, "latency_ms": 5}`)
	if status != 200 || !strings.Contains(body, `"error_rate_500":1`) {
		t.Fatalf("put faults: %d %s", status, body)
	}
	if f := srv.Faults(); f.Seed != 7 || f.ErrorRate500 != 1 || f.FaultLimit != 1 || len(f.Ops) != 1 || f.LatencyMs != 5 {
		t.Fatalf("faults: %+v", f)
	}
	status, body = adminDo(t, "GET", u+"/_ossemu/faults", "")
	if status != 200 || !strings.Contains(body, `"fault_limit":1`) {
		t.Fatalf("get faults: %d %s", status, body)
	}
	_, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")})
	wantServiceError(t, err, 500, "InternalError")
	if got := mustGet(t, c, testBucket, "k"); string(got) != "v" {
		t.Fatal("fault limit not honoured")
	}
	for _, bad := range []string{`{"error_rate_500": 2}`, `{"no_such_field": 1}`, `not json`, `{"key_pattern": "["}`} {
		if status, body := adminDo(t, "PUT", u+"/_ossemu/faults", bad); status != 400 || !strings.Contains(body, "error") {
			t.Fatalf("bad faults %s: %d %s", bad, status, body)
		}
	}
	if f := srv.Faults(); f.Seed != 7 {
		t.Fatal("a refused configuration was applied")
	}

	// Buckets.
	if status, _ := adminDo(t, "PUT", u+"/_ossemu/buckets/from-admin", ""); status != 200 {
		t.Fatalf("create bucket: %d", status)
	}
	mustPut(t, c, "from-admin", "x", []byte("y"))
	if status, _ := adminDo(t, "PUT", u+"/_ossemu/buckets/Bad_Name", ""); status != 400 {
		t.Fatalf("invalid bucket name: %d", status)
	}
	if status, _ := adminDo(t, "GET", u+"/_ossemu/nothing", ""); status != 404 {
		t.Fatalf("unknown endpoint: %d", status)
	}
	if status, _ := adminDo(t, "DELETE", u+"/_ossemu/stats", ""); status != 404 {
		t.Fatalf("wrong method: %d", status)
	}

	// A virtual-hosted request for the same path is an object request.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	req, _ := http.NewRequest("GET", "http://bucket.oss-test.local:"+port+"/_ossemu/stats", nil)
	resp, err := dialTo("127.0.0.1:" + port).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("virtual-hosted admin path: %d", resp.StatusCode)
	}
}

func TestAdminFillStoresObjectsAsUploadsWould(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	dir := t.TempDir()
	for i, body := range []string{"first body", "second"} {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.bin", i)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	status, body := adminDo(t, "POST", u+"/_ossemu/fill?bucket="+testBucket+"&count=5&start=10&key_format="+url.QueryEscape("d%02d/k%04d")+"&per_dir=2&body_dir="+url.QueryEscape(dir), "")
	if status != 200 || !strings.Contains(body, `"objects":5`) {
		t.Fatalf("fill: %d %s", status, body)
	}
	c := newClient(u, noRetry)
	// object i gets file i mod 2 and key d<i/2>/k<i>
	for i, want := range map[int]string{10: "first body", 11: "second", 14: "first body"} {
		if got := string(mustGet(t, c, testBucket, fmt.Sprintf("d%02d/k%04d", i/2, i))); got != want {
			t.Fatalf("object %d: %q, want %q", i, got, want)
		}
	}
	for _, q := range []string{"count=0", "count=2&bucket=no-such-bucket&size=1", "count=x"} {
		if !strings.Contains(q, "bucket=") {
			q += "&bucket=" + testBucket
		}
		if status, body := adminDo(t, "POST", u+"/_ossemu/fill?"+q, ""); status < 400 || !strings.Contains(body, "error") {
			t.Fatalf("fill?%s: %d %s", q, status, body)
		}
	}
}
