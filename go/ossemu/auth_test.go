package ossemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
)

// goldenV4Request is the request of the SDK's TestV4AuthHeader vector (its
// oss/signer tests) as the server would receive it.
func goldenV4Request(xdate string) *http.Request {
	vals := url.Values{}
	vals.Add("param1", "value1")
	vals.Add("+param1", "value3")
	vals.Add("|param1", "value4")
	vals.Add("+param2", "")
	vals.Add("|param2", "")
	vals.Add("param2", "")
	r := httptest.NewRequest("PUT", "http://bucket.oss-cn-hangzhou.aliyuncs.com/1234%2B-/123/1.txt?"+vals.Encode(), nil)
	for k, v := range map[string]string{"x-oss-head1": "value", "abc": "value", "ZAbc": "value", "XYZ": "value",
		"content-type": "text/plain", "x-oss-content-sha256": "UNSIGNED-PAYLOAD", "x-oss-date": xdate} {
		r.Header.Set(k, v)
	}
	return r
}

// serverAt returns a server whose clock reads t (give or take the test's own
// run time), so that a vector signed at t passes the skew check.
func serverAt(t *testing.T, at time.Time, mod func(*Options)) *Server {
	t.Helper()
	o := Options{AccessKeyID: "ak", AccessKeySecret: "sk", Region: "cn-hangzhou",
		Faults: Faults{ClockOffsetMs: time.Until(at).Milliseconds()}}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantAuthCode(t *testing.T, e *ossError, code string) {
	t.Helper()
	switch {
	case code == "" && e != nil:
		t.Fatalf("want the request accepted, got %v", e)
	case code != "" && e == nil:
		t.Fatalf("want %s, request accepted", code)
	case code != "" && e.Code != code:
		t.Fatalf("want %s, got %v", code, e)
	}
}

func TestV4GoldenVector(t *testing.T) {
	r := goldenV4Request("20231216T162057Z")
	s := serverAt(t, time.Unix(1702743657, 0), nil)
	bucket, key, virtual := s.address(r)
	if bucket != "bucket" || key != "1234+-/123/1.txt" || !virtual {
		t.Fatalf("address: %q %q %v", bucket, key, virtual)
	}
	creq := canonicalRequestV4(r, bucket, key, nil)
	wantCreq := "PUT\n/bucket/1234%2B-/123/1.txt\n" +
		"%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n" +
		"content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20231216T162057Z\nx-oss-head1:value\n" +
		"\n\nUNSIGNED-PAYLOAD"
	if creq != wantCreq {
		t.Fatalf("canonical request:\n%q\nwant\n%q", creq, wantCreq)
	}
	sum := sha256.Sum256([]byte(creq))
	if got := hex.EncodeToString(sum[:]); got != "f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4" {
		t.Fatalf("sha256(canonical request) = %s", got)
	}
	scope := "20231216/cn-hangzhou/oss/aliyun_v4_request"
	sts := stringToSignV4("20231216T162057Z", scope, creq)
	if want := "OSS4-HMAC-SHA256\n20231216T162057Z\n" + scope + "\nf4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4"; sts != want {
		t.Fatalf("string to sign %q", sts)
	}
	const sig = "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
	if got := signV4("sk", "20231216", "cn-hangzhou", "oss", sts); got != sig {
		t.Fatalf("signature %s, want %s", got, sig)
	}

	// The whole verifier accepts the published Authorization header ...
	r.Header.Set("Authorization", "OSS4-HMAC-SHA256 Credential=ak/"+scope+",Signature="+sig)
	wantAuthCode(t, s.authenticate(r, bucket, key), "")
	// ... with optional spaces after the commas ...
	r.Header.Set("Authorization", "OSS4-HMAC-SHA256 Credential=ak/"+scope+", Signature="+sig)
	wantAuthCode(t, s.authenticate(r, bucket, key), "")
	// ... ignores headers that are not signed ...
	r.Header.Set("Abc", "changed")
	wantAuthCode(t, s.authenticate(r, bucket, key), "")
	// ... and notices a change to a signed header, the key or the query.
	r.Header.Set("X-Oss-Head1", "changed")
	wantAuthCode(t, s.authenticate(r, bucket, key), "SignatureDoesNotMatch")
	r.Header.Set("X-Oss-Head1", "value")
	wantAuthCode(t, s.authenticate(r, bucket, "1234+-/123/2.txt"), "SignatureDoesNotMatch")
	r2 := goldenV4Request("20231216T162057Z")
	r2.URL.RawQuery += "&param3=x"
	r2.Header.Set("Authorization", r.Header.Get("Authorization"))
	wantAuthCode(t, s.authenticate(r2, bucket, key), "SignatureDoesNotMatch")

	// Region, key and clock checks come before the signature.
	wantAuthCode(t, serverAt(t, time.Unix(1702743657, 0), func(o *Options) { o.Region = "cn-beijing" }).authenticate(r, bucket, key), "SignatureDoesNotMatch")
	wantAuthCode(t, serverAt(t, time.Unix(1702743657, 0), func(o *Options) { o.AccessKeyID = "other" }).authenticate(r, bucket, key), "InvalidAccessKeyId")
	wantAuthCode(t, serverAt(t, time.Unix(1702743657, 0), func(o *Options) { o.AccessKeySecret = "other" }).authenticate(r, bucket, key), "SignatureDoesNotMatch")
	wantAuthCode(t, serverAt(t, time.Unix(1702743657+16*60, 0), nil).authenticate(r, bucket, key), "RequestTimeTooSkewed")
	wantAuthCode(t, serverAt(t, time.Unix(1702743657-16*60, 0), nil).authenticate(r, bucket, key), "RequestTimeTooSkewed")
	// An empty Region accepts the region of the credential scope.
	wantAuthCode(t, serverAt(t, time.Unix(1702743657, 0), func(o *Options) { o.Region = "" }).authenticate(r, bucket, key), "")
}

func TestV4GoldenVectorAdditionalHeaders(t *testing.T) {
	const xdate = "20231216T172512Z" // 1702747512
	r := goldenV4Request(xdate)
	s := serverAt(t, time.Unix(1702747512, 0), nil)
	bucket, key, _ := s.address(r)
	creq := canonicalRequestV4(r, bucket, key, []string{"abc", "zabc"})
	if !strings.Contains(creq, "\nabc:value\n") || !strings.Contains(creq, "\nzabc:value\n") || !strings.HasSuffix(creq, "\n\nabc;zabc\nUNSIGNED-PAYLOAD") {
		t.Fatalf("canonical request with additional headers:\n%s", creq)
	}
	const sig = "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
	scope := "20231216/cn-hangzhou/oss/aliyun_v4_request"
	if got := signV4("sk", "20231216", "cn-hangzhou", "oss", stringToSignV4(xdate, scope, creq)); got != sig {
		t.Fatalf("signature %s, want %s", got, sig)
	}
	r.Header.Set("Authorization", "OSS4-HMAC-SHA256 Credential=ak/"+scope+",AdditionalHeaders=abc;zabc,Signature="+sig)
	wantAuthCode(t, s.authenticate(r, bucket, key), "")
	// Now "abc" is signed: changing it breaks the signature.
	r.Header.Set("Abc", "changed")
	wantAuthCode(t, s.authenticate(r, bucket, key), "SignatureDoesNotMatch")
}

func TestV1GoldenVector(t *testing.T) {
	const date = "Wed, 28 Dec 2022 10:27:41 GMT"
	r := httptest.NewRequest("PUT", "http://127.0.0.1:9000/examplebucket/nelson", nil)
	for k, v := range map[string]string{"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw==", "Content-Type": "text/html", "Date": date,
		"x-oss-date": date, "x-oss-meta-author": "alice", "x-oss-meta-magic": "abracadabra"} {
		r.Header.Set(k, v)
	}
	at, _ := http.ParseTime(date)
	s := serverAt(t, at, nil)
	bucket, key, virtual := s.address(r)
	if bucket != "examplebucket" || key != "nelson" || virtual {
		t.Fatalf("address: %q %q %v", bucket, key, virtual)
	}
	want := "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\n" + date + "\nx-oss-date:" + date +
		"\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson"
	for _, sub := range []map[string]bool{subresourcesGoV2, subresourcesPy} {
		if sts := stringToSignV1(r, bucket, key, sub); sts != want {
			t.Fatalf("string to sign:\n%q\nwant\n%q", sts, want)
		}
	}
	if got := signV1("sk", want); got != "kSHKmLxlyEAKtZPkJhG9bZb5k7M=" {
		t.Fatalf("signature %s", got)
	}
	r.Header.Set("Authorization", "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=")
	wantAuthCode(t, s.authenticate(r, bucket, key), "")
	r.Header.Set("X-Oss-Meta-Magic", "changed")
	wantAuthCode(t, s.authenticate(r, bucket, key), "SignatureDoesNotMatch")
	r.Header.Set("X-Oss-Meta-Magic", "abracadabra")
	wantAuthCode(t, serverAt(t, at.Add(time.Hour), nil).authenticate(r, bucket, key), "RequestTimeTooSkewed")
	wantAuthCode(t, serverAt(t, at, func(o *Options) { o.AccessKeyID = "x" }).authenticate(r, bucket, key), "InvalidAccessKeyId")
}

func TestV1StringToSignSubresources(t *testing.T) {
	// Requests the SDK sent with V1 signing (its string to sign was captured):
	// sub-resources are signed with decoded values, other query keys are left
	// out.
	for _, c := range []struct{ target, bucket, key, want string }{
		{"/bucket/?list-type=2&continuation-token=dir%2Fa%20b%2Bc~%C3%BC.txt&encoding-type=url", "bucket", "",
			"/bucket/?continuation-token=dir/a b+c~ü.txt"},
		{"/bucket/v1/big.bin?uploadId=UPLOADID0004&partNumber=1", "bucket", "v1/big.bin", "/bucket/v1/big.bin?partNumber=1&uploadId=UPLOADID0004"},
		{"/bucket/v1/big.bin?uploads&encoding-type=url", "bucket", "v1/big.bin", "/bucket/v1/big.bin?uploads"},
		{"/bucket/v1/a%20b.txt", "bucket", "v1/a b.txt", "/bucket/v1/a b.txt"},
	} {
		r := httptest.NewRequest("GET", "http://127.0.0.1"+c.target, nil)
		sts := stringToSignV1(r, c.bucket, c.key, subresourcesGoV2)
		if !strings.HasSuffix(sts, "\n"+c.want) {
			t.Errorf("%s: string to sign ends %q, want %q", c.target, sts[strings.LastIndex(sts, "\n")+1:], c.want)
		}
	}
}

// TestVerifierAcceptsSDKSignatures signs awkward requests with the SDK's own
// signers and checks the server's verifier against them.
func TestVerifierAcceptsSDKSignatures(t *testing.T) {
	s, err := New(Options{AccessKeyID: testAK, AccessKeySecret: testSK, Region: testRegion})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "dir/a b+c~ü.txt", "x%y&z=1?q#h", "sp ace/", "a//b/./c", "中文/ключ", "~!@$^*()_-[]{};:'\",<>"}
	queries := []string{"", "uploads", "partNumber=3&uploadId=ABC", "append&position=12",
		"list-type=2&prefix=a%20b%2F&delimiter=%2F&continuation-token=" + url.QueryEscape("k/ü+ "), "x-oss-process=image%2Fresize"}
	for _, v1 := range []bool{false, true} {
		for _, key := range keys {
			for _, q := range queries {
				target := "http://127.0.0.1:1/" + testBucket + "/" + escapeKey(key)
				if q != "" {
					target += "?" + q
				}
				req, err := http.NewRequest("POST", target, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/octet-stream")
				req.Header.Set("X-Oss-Meta-Foo", "  bar ")
				signRequest(t, req, testBucket, key, v1, testAK, testSK, "")
				// What the server receives: the parsed URL, Host apart.
				in := httptest.NewRequest("POST", target, nil)
				in.Header = req.Header.Clone()
				b, k, _ := s.address(in)
				if b != testBucket || k != key {
					t.Fatalf("address of %s: %q %q", target, b, k)
				}
				if e := s.authenticate(in, b, k); e != nil {
					t.Errorf("v1=%v key %q query %q: %v", v1, key, q, e)
				}
			}
		}
	}
}

func TestAddress(t *testing.T) {
	for _, c := range []struct {
		domain, host, path string
		bucket, key        string
		virtual            bool
	}{
		{"", "127.0.0.1:9000", "/b/k/x", "b", "k/x", false},
		{"", "[::1]:9000", "/b/k", "b", "k", false},
		{"", "localhost:9000", "/b/k", "b", "k", false},
		{"", "oss-cn-hangzhou.aliyuncs.com", "/b/", "b", "", false},
		{"", "bucket.oss-cn-hangzhou.aliyuncs.com", "/k", "bucket", "k", true},
		{"", "Bucket.Example.COM.:80", "/k//x", "bucket", "k//x", true},
		{"", "nodots:80", "/b/k", "b", "k", false},
		{"emu.test", "b.emu.test:9000", "/k", "b", "k", true},
		{"emu.test", "emu.test:9000", "/b/k", "b", "k", false},
		{"emu.test", "x.other.test", "/b/k", "b", "k", false},
	} {
		s := &Server{opts: Options{Domain: c.domain}}
		r := httptest.NewRequest("GET", "http://"+c.host+c.path, nil)
		b, k, v := s.address(r)
		if b != c.bucket || k != c.key || v != c.virtual {
			t.Errorf("domain %q host %q path %q: got %q %q %v, want %q %q %v", c.domain, c.host, c.path, b, k, v, c.bucket, c.key, c.virtual)
		}
	}
}

// exerciseClient runs the common object operations through c and checks
// their results.
func exerciseClient(t *testing.T, c *oss.Client, prefix string) {
	t.Helper()
	key := prefix + "dir/a b+c~ü%.txt"
	data := testData(5000, 7)
	mustPut(t, c, testBucket, key, data)
	if got := mustGet(t, c, testBucket, key); !bytes.Equal(got, data) {
		t.Fatal("get returned other bytes")
	}
	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
	if err != nil || h.ContentLength != int64(len(data)) {
		t.Fatalf("head: %v %+v", err, h)
	}
	lr, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr(prefix + "dir/"), Delimiter: oss.Ptr("/")})
	if err != nil || len(lr.Contents) != 1 || *lr.Contents[0].Key != key {
		t.Fatalf("list: %v %+v", err, lr)
	}
	if _, err := c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key + ".copy"), SourceKey: oss.Ptr(key)}); err != nil {
		t.Fatalf("copy: %v", err)
	}
	if _, err := c.AppendObject(bg, &oss.AppendObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key + ".app"), Position: oss.Ptr(int64(0)), Body: bytes.NewReader(data[:10])}); err != nil {
		t.Fatalf("append: %v", err)
	}
	up := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 << 10 })
	big := testData(250<<10, 8)
	if _, err := up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key + ".mp")}, bytes.NewReader(big)); err != nil {
		t.Fatalf("multipart: %v", err)
	}
	if got := mustGet(t, c, testBucket, key+".mp"); !bytes.Equal(got, big) {
		t.Fatal("multipart object differs")
	}
	if _, err := c.DeleteMultipleObjects(bg, &oss.DeleteMultipleObjectsRequest{Bucket: oss.Ptr(testBucket),
		Objects: []oss.DeleteObject{{Key: oss.Ptr(key + ".copy")}, {Key: oss.Ptr(key + ".app")}}}); err != nil {
		t.Fatalf("delete multiple: %v", err)
	}
	if _, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.ListBuckets(bg, &oss.ListBucketsRequest{}); err != nil {
		t.Fatalf("list buckets: %v", err)
	}
}

func TestSignatureVersionsPathStyle(t *testing.T) {
	t.Parallel()
	srv, err := New(Options{Region: testRegion, AccessKeyID: testAK, AccessKeySecret: testSK, Buckets: []string{testBucket}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{h: srv}
	ts := httptest.NewServer(rec)
	defer ts.Close()
	for _, v := range []struct {
		name   string
		fn     func(*oss.Config)
		scheme string
	}{{"v4", func(*oss.Config) {}, "OSS4-HMAC-SHA256"}, {"v1", withV1, "OSS"}} {
		t.Run(v.name, func(t *testing.T) {
			before := len(rec.requests())
			exerciseClient(t, newClient(ts.URL, v.fn), v.name+"/")
			seen := rec.requests()[before:]
			if len(seen) < 10 {
				t.Fatalf("only %d requests seen", len(seen))
			}
			for _, r := range seen {
				if r.auth != v.scheme {
					t.Fatalf("request %s signed with %q, want %q", r.path, r.auth, v.scheme)
				}
				if r.host != ts.Listener.Addr().String() || (r.path != "/" && !strings.HasPrefix(r.path, "/"+testBucket+"/")) {
					t.Fatalf("not a path-style request: host %q path %q", r.host, r.path)
				}
			}
		})
	}
	if n := srv.SettledStats().Count("PutObject", 403); n != 0 {
		t.Fatalf("%d signature failures", n)
	}
}

// dialTo returns an HTTP client that connects every host name to addr, as a
// wildcard DNS entry for the emulator would.
func dialTo(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		DisableCompression: true,
	}}
}

func TestVirtualHosted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, domain, host string }{
		{"default-oss-prefix", "", "oss-test.local"},
		{"domain", "oss-test.local", "oss-test.local"},
		{"custom-domain", "emu.test", "emu.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, err := New(Options{Region: testRegion, AccessKeyID: testAK, AccessKeySecret: testSK, Buckets: []string{testBucket}, Domain: c.domain})
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{h: srv}
			ts := httptest.NewServer(rec)
			defer ts.Close()
			_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
			endpoint := "http://" + c.host + ":" + port
			for _, v := range []struct {
				name   string
				fn     func(*oss.Config)
				scheme string
			}{{"v4", func(*oss.Config) {}, "OSS4-HMAC-SHA256"}, {"v1", withV1, "OSS"}} {
				before := len(rec.requests())
				cl := newClient(endpoint, v.fn, func(cfg *oss.Config) { cfg.WithHttpClient(dialTo(ts.Listener.Addr().String())) })
				exerciseClient(t, cl, v.name+"/")
				seen := rec.requests()[before:]
				var virtual int
				for _, r := range seen {
					if r.auth != v.scheme {
						t.Fatalf("%s: signed with %q", v.name, r.auth)
					}
					switch r.host {
					case testBucket + "." + c.host + ":" + port:
						// The bucket is in Host only: the path is the bare key.
						if strings.HasPrefix(r.path, "/"+testBucket+"/") {
							t.Fatalf("%s: virtual-hosted request with the bucket in the path: %q", v.name, r.path)
						}
						virtual++
					case c.host + ":" + port:
						if r.path != "/" { // ListBuckets only
							t.Fatalf("%s: unexpected path-style request %q", v.name, r.path)
						}
					default:
						t.Fatalf("%s: unexpected host %q", v.name, r.host)
					}
				}
				if virtual < 10 {
					t.Fatalf("%s: only %d virtual-hosted requests", v.name, virtual)
				}
			}
			if srv.SettledStats().Count("PutObject", 200) == 0 {
				t.Fatal("no PutObject reached the server")
			}
		})
	}
}

func TestSecurityToken(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, func(o *Options) { o.SecurityToken = "STS.token-1" })
	withCreds := func(token string) func(*oss.Config) {
		return func(cfg *oss.Config) {
			cfg.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, testSK, token))
		}
	}
	for _, v := range []struct {
		name string
		fn   func(*oss.Config)
	}{{"v4", func(*oss.Config) {}}, {"v1", withV1}} {
		good := newClient(u, v.fn, withCreds("STS.token-1"))
		mustPut(t, good, testBucket, "sts/"+v.name, []byte("x"))
		if string(mustGet(t, good, testBucket, "sts/"+v.name)) != "x" {
			t.Fatal("wrong content")
		}
		for _, tok := range []string{"", "STS.token-2"} {
			bad := newClient(u, v.fn, withCreds(tok))
			_, err := bad.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("sts/" + v.name)})
			wantServiceError(t, err, 403, "InvalidSecurityToken")
			_, err = bad.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("sts/" + v.name)})
			wantServiceError(t, err, 403, "InvalidSecurityToken")
			_, err = bad.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("sts/other"), Body: strings.NewReader("y")})
			wantServiceError(t, err, 403, "InvalidSecurityToken")
		}
	}
}

func TestClockSkew(t *testing.T) {
	t.Parallel()
	for _, offset := range []time.Duration{30 * time.Minute, -30 * time.Minute} {
		srv, u := newTestServer(t, func(o *Options) { o.Faults.ClockOffsetMs = offset.Milliseconds() })

		// A raw request signed with the local clock is refused, and the
		// answer carries the server's Date for the client to correct with.
		for _, v1 := range []bool{false, true} {
			req, _ := http.NewRequest("GET", u+"/"+testBucket+"/missing", nil)
			signRequest(t, req, testBucket, "missing", v1, testAK, testSK, "")
			before := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>RequestTimeTooSkewed</Code>") {
				t.Fatalf("offset %v v1=%v: %d %s", offset, v1, resp.StatusCode, body)
			}
			date, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil {
				t.Fatalf("Date header %q: %v", resp.Header.Get("Date"), err)
			}
			// Date has second precision; the skew is far larger than the run time.
			if offset > 0 && date.Before(before.Add(offset-2*time.Second)) || offset < 0 && !date.Before(before.Add(offset/2)) {
				t.Fatalf("offset %v: Date %v, local time %v", offset, date, before)
			}
			if resp.Header.Get("x-oss-request-id") == "" {
				t.Fatal("no request id")
			}
		}

		// The SDK corrects its clock from that Date header and retries.
		for _, fn := range []func(*oss.Config){func(*oss.Config) {}, withV1} {
			c := newClient(u, fn)
			mustPut(t, c, testBucket, "skew", []byte("data"))
			if string(mustGet(t, c, testBucket, "skew")) != "data" {
				t.Fatal("wrong content")
			}
			if _, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("skew")}); err != nil {
				t.Fatal(err)
			}
		}
		st := srv.SettledStats()
		if st.Count("PutObject", 403) != 2 || st.Count("PutObject", 200) != 2 || st.Count("GetObject", 200) != 2 {
			t.Fatalf("offset %v: stats %v", offset, st.Requests)
		}
		// The same client, without clock correction, fails.
		cfg := oss.LoadDefaultConfig().WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAK, testSK)).
			WithRegion(testRegion).WithEndpoint(u)
		noRetry(cfg)
		c := oss.NewClient(cfg, func(o *oss.Options) { o.FeatureFlags &^= oss.FeatureCorrectClockSkew })
		_, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("skew")})
		wantServiceError(t, err, 403, "RequestTimeTooSkewed")
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	mustPut(t, newClient(u), testBucket, "k", []byte("v"))
	for _, v := range []struct {
		name string
		fn   func(*oss.Config)
	}{{"v4", func(*oss.Config) {}}, {"v1", withV1}} {
		for _, c := range []struct {
			ak, sk, code string
		}{{testAK, "wrong-secret", "SignatureDoesNotMatch"}, {"unknown-ak", testSK, "InvalidAccessKeyId"}} {
			cl := newClient(u, v.fn, func(cfg *oss.Config) {
				cfg.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.ak, c.sk))
			})
			_, err := cl.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")})
			wantServiceError(t, err, 403, c.code)
			_, err = cl.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")})
			wantServiceError(t, err, 403, c.code)
			_, err = cl.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket)})
			wantServiceError(t, err, 403, c.code)
		}
	}
	// A client signing for another region.
	cl := newClient(u, func(cfg *oss.Config) { cfg.WithRegion("cn-beijing") })
	_, err := cl.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")})
	wantServiceError(t, err, 403, "SignatureDoesNotMatch")

	// Unsigned requests are refused, malformed Authorization headers are 400.
	resp, err := http.Get(u + "/" + testBucket + "/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned request: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", u+"/"+testBucket+"/k", nil)
	req.Header.Set("Authorization", "Bearer xyz")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("malformed authorization: %d", resp.StatusCode)
	}
}

func TestAnonymous(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Fatal("a server without credentials and without Anonymous was created")
	}
	_, u := newTestServer(t, func(o *Options) { o.Anonymous = true; o.AccessKeyID, o.AccessKeySecret = "", "" })
	req, _ := http.NewRequest("PUT", u+"/"+testBucket+"/anon", strings.NewReader("hello"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("unsigned put: %d", resp.StatusCode)
	}
	resp, err = http.Get(u + "/" + testBucket + "/anon")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello" {
		t.Fatalf("unsigned get: %d %q", resp.StatusCode, b)
	}
	anon := newClient(u, func(cfg *oss.Config) { cfg.WithCredentialsProvider(credentials.NewAnonymousCredentialsProvider()) })
	mustPut(t, anon, testBucket, "anon2", []byte("x"))
	if string(mustGet(t, anon, testBucket, "anon")) != "hello" {
		t.Fatal("anonymous SDK get")
	}
	// Signed requests with any key are accepted too.
	signed := newClient(u, func(cfg *oss.Config) {
		cfg.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("who", "ever"))
	})
	if string(mustGet(t, signed, testBucket, "anon2")) != "x" {
		t.Fatal("signed get on an anonymous server")
	}
}
