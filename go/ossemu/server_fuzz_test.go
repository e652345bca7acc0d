package ossemu

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
)

// The fixture every FuzzServeRequest input runs against: bucket "bucket" with
// a few objects and one multipart upload in progress with two small parts,
// and an empty bucket "other".
const (
	fuzzHost     = "127.0.0.1:9000"
	fuzzUploadID = "0123456789ABCDEF0123456789ABCDEF"
	fuzzMPKey    = "mp/obj"
)

var (
	fuzzClock   = time.Unix(1702743657, 0) // signed requests are signed at this time, and the server's clock reads it
	fuzzObjects = map[string][]byte{"a.txt": []byte("hello, world\n"), "dir/b.bin": testData(300, 1), "dir/sub/c": []byte("c"), "empty": nil}
	fuzzParts   = [][]byte{[]byte("first part"), []byte("second part")}
	fuzzMethods = []string{"GET", "HEAD", "PUT", "POST", "DELETE"}
)

func md5Hex(b []byte) string { s := md5.Sum(b); return strings.ToUpper(hex.EncodeToString(s[:])) }
func md5B64(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }

// fuzzServer builds the fixture afresh, so that no input depends on what an
// earlier one did, with the clock at `at`.
func fuzzServer(t *testing.T, at time.Time) *Server {
	s, err := New(Options{Region: testRegion, AccessKeyID: testAK, AccessKeySecret: testSK, Buckets: []string{testBucket, "other"},
		Faults: Faults{ClockOffsetMs: time.Until(at).Milliseconds()}})
	if err != nil {
		t.Fatal(err)
	}
	b := s.store.bucket(testBucket)
	stage := func(data []byte) *staging {
		st, err := s.store.newStaging()
		if err != nil {
			t.Fatal(err)
		}
		st.Write(data)
		return st
	}
	for k, data := range fuzzObjects {
		st := stage(data)
		if err := s.store.commit(b, &object{Key: k, Type: "Normal", ETag: st.md5Hex(), ContentType: "application/octet-stream"}, st); err != nil {
			t.Fatal(err)
		}
	}
	if _, e := s.store.appendTo(b, "app.log", 0, []byte("line 1\n"), "text/plain", nil); e != nil {
		t.Fatal(e)
	}
	u := &upload{id: fuzzUploadID, bucket: testBucket, key: fuzzMPKey, initiated: at.UTC(), contentType: "application/octet-stream", parts: map[int]*part{}}
	for i, data := range fuzzParts {
		st := stage(data)
		p := &part{number: i + 1, etag: st.md5Hex(), size: st.size, crc: st.crc, modified: at.UTC(), data: st}
		copy(p.md5[:], st.md5.Sum(nil))
		u.parts[p.number] = p
	}
	s.uploads[u.id] = u
	return s
}

// fuzzInput is one FuzzServeRequest input. mode%3 is how it is signed: 0 not
// by the target (the request goes out as written, any Authorization among its
// headers, to a server whose clock is now, where the fixed-time signatures of
// the seeds have long expired), 1 V4 and 2 V1 by the SDK's own signer.
// (mode/3)%4 tampers with a signed request afterwards: 1 changes the
// signature, 2 adds a signed header, 3 changes the path.
type fuzzInput struct {
	mode                                uint8
	method, bucket, key, query, headers string
	body                                []byte
}

func (in fuzzInput) signing() int { return int(in.mode % 3) }
func (in fuzzInput) tamper() int  { return int(in.mode/3) % 4 }

// headerLines splits the fuzzed header block ("Name: value" per line).
func headerLines(block string) [][2]string {
	var out [][2]string
	for _, line := range strings.Split(block, "\n") {
		if name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":"); ok {
			out = append(out, [2]string{name, value})
		}
	}
	return out
}

// validToken and validFieldValue are the checks net/http's Transport makes
// before it sends a header: a client cannot send anything else.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// transportHeaders are set by the HTTP client itself (or framing), not by an
// OSS request.
var transportHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer", "Te", "Upgrade",
	"Keep-Alive", "Proxy-Connection", "Expect", "Authorization"}

// rawRequest writes the input as HTTP/1.1 text and parses it the way the
// server's connection does; nil when that parse refuses it.
func rawRequest(in fuzzInput) *http.Request {
	target := "/" + in.bucket + "/" + in.key
	if in.query != "" {
		target += "?" + in.query
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", in.method, target, fuzzHost)
	for _, h := range headerLines(in.headers) {
		b.WriteString(h[0] + ":" + h[1] + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(in.body))
	b.Write(in.body)
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil
	}
	return r
}

// sdkRequest builds the request the way the SDK's client does (path style:
// escaped key, query from a map with QueryEscape and %20, headers added as
// given) and signs it with the SDK's signer at fuzzClock. bucket, key and
// method are those of the request; nil when no SDK request has this shape.
func sdkRequest(t *testing.T, in fuzzInput) (req *http.Request, method, bucket, key string) {
	method = strings.ToUpper(in.method)
	if !slices.Contains(fuzzMethods, method) {
		method = fuzzMethods[len(in.method)%len(fuzzMethods)]
	}
	bucket, key = in.bucket, in.key
	if bucket != "" && !validBucketName(bucket) {
		bucket = testBucket // the SDK refuses such names before sending
	}
	path := "/"
	if bucket == "" {
		key = ""
	} else {
		path += bucket + "/" + escapeKey(key)
	}
	vals, _ := url.ParseQuery(in.query)
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names) // the SDK's map order is random; sorted keeps runs reproducible
	var q []string
	for _, k := range names {
		item := url.QueryEscape(k)
		if v := vals[k][0]; v != "" {
			item += "=" + strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
		}
		q = append(q, item)
	}
	u := "http://" + fuzzHost + path
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(in.body))
	if err != nil {
		return nil, "", "", ""
	}
	for _, h := range headerLines(in.headers) {
		// HTTP cannot carry blanks around a value (the server never sees
		// them), so a client that signed them would sign something else.
		name, value := strings.TrimSpace(h[0]), strings.Trim(h[1], " \t")
		if !validToken(name) || !validFieldValue(value) || strings.TrimSpace(value) == "" ||
			slices.Contains(transportHeaders, http.CanonicalHeaderKey(name)) {
			continue
		}
		req.Header.Add(name, value)
	}
	cred := credentials.Credentials{AccessKeyID: testAK, AccessKeySecret: testSK}
	sctx := &signer.SigningContext{Product: oss.Ptr("oss"), Region: oss.Ptr(testRegion), Request: req, Credentials: &cred, Time: fuzzClock}
	if bucket != "" {
		sctx.Bucket = oss.Ptr(bucket)
		if key != "" {
			sctx.Key = oss.Ptr(key)
		}
	}
	var s signer.Signer = &signer.SignerV4{}
	if in.signing() == 2 {
		s = &signer.SignerV1{}
	}
	if err := s.Sign(bg, sctx); err != nil {
		t.Fatalf("SDK signer: %v", err)
	}
	switch in.tamper() {
	case 1:
		a := req.Header.Get("Authorization")
		last := a[len(a)-1]
		repl := byte('0')
		if last == '0' {
			repl = '1'
		}
		req.Header.Set("Authorization", a[:len(a)-1]+string(repl))
	case 2:
		req.Header.Add("X-Oss-Meta-Tamper", "1")
	case 3:
		req.URL.Path += "x"
		req.URL.RawPath = ""
	}
	// Through the wire and back, as the server will see it.
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		return nil, "", "", ""
	}
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatalf("a request net/http wrote does not parse: %v\n%q", err, wire.String())
	}
	return r, method, bucket, key
}

// authFailures are the codes that say the signature was not accepted.
var authFailures = []string{"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed", "InvalidSecurityToken"}

// expectedStatus predicts the answer to a plain signed request (no query, no
// extra headers), 0 when it does not.
func expectedStatus(method, bucket, key string, in fuzzInput) int {
	if in.query != "" || strings.TrimSpace(in.headers) != "" {
		return 0
	}
	_, exists := fuzzObjects[key]
	exists = exists || key == "app.log"
	known := bucket == testBucket || bucket == "other"
	switch {
	case bucket == "":
		if method == "GET" {
			return 200 // ListBuckets
		}
	case !known && key == "" && method == "PUT":
		return 200 // PutBucket
	case !known && (method == "GET" || method == "DELETE" || (key != "" && (method == "HEAD" || method == "PUT"))):
		return 404 // NoSuchBucket
	case !known:
		return 0
	case key == "":
		switch {
		case method == "GET":
			return 200 // ListObjects
		case method == "DELETE" && bucket == "other":
			return 204
		case method == "DELETE" && bucket == testBucket:
			return 409 // BucketNotEmpty
		case method == "PUT":
			return 409 // BucketAlreadyExists
		}
	case bucket == "other":
		return 0
	case method == "GET" || method == "HEAD":
		if exists {
			return 200
		}
		return 404
	case method == "PUT" && len(key) <= 1023:
		return 200
	case method == "DELETE":
		return 204
	}
	return 0
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// checkResponse checks what every answer must be: a request id; a status from
// the documented set (no 5xx: faults are off and the store is in memory, so
// the server has no fault of its own to report); errors as OSS XML with Code
// and the same RequestId (in x-oss-err for HEAD); bodies as long as they say;
// XML bodies well-formed.
func checkResponse(t *testing.T, method string, rec *httptest.ResponseRecorder, label string) (code string) {
	t.Helper()
	res := rec.Result()
	body := rec.Body.Bytes()
	rid := res.Header.Get("X-Oss-Request-Id")
	if rid == "" {
		t.Fatalf("%s: no x-oss-request-id", label)
	}
	switch res.StatusCode {
	case 200, 204, 206, 304, 400, 403, 404, 409, 412, 416, 501:
	default:
		t.Fatalf("%s: status %d: %s", label, res.StatusCode, body)
	}
	if method == "HEAD" && len(body) > 0 {
		t.Fatalf("%s: HEAD answered with a body: %q", label, body)
	}
	if cl := res.Header.Get("Content-Length"); cl != "" && method != "HEAD" && cl != strconv.Itoa(len(body)) {
		t.Fatalf("%s: Content-Length %s, body %d bytes", label, cl, len(body))
	}
	if res.StatusCode >= 400 {
		doc := body
		if method == "HEAD" {
			var err error
			if doc, err = base64.StdEncoding.DecodeString(res.Header.Get("X-Oss-Err")); err != nil {
				t.Fatalf("%s: x-oss-err is not base64: %v", label, err)
			}
		}
		var e struct {
			XMLName   xml.Name `xml:"Error"`
			Code      string   `xml:"Code"`
			Message   string   `xml:"Message"`
			RequestID string   `xml:"RequestId"`
			EC        string   `xml:"EC"`
		}
		if err := xml.Unmarshal(doc, &e); err != nil || e.Code == "" || e.RequestID != rid || e.EC != res.Header.Get("X-Oss-Ec") {
			t.Fatalf("%s: status %d with a malformed error (%v): %q", label, res.StatusCode, err, doc)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/xml" {
			t.Fatalf("%s: error with Content-Type %q", label, ct)
		}
		return e.Code
	}
	if res.Header.Get("Content-Type") == "application/xml" && method != "HEAD" {
		dec := xml.NewDecoder(bytes.NewReader(body))
		for {
			if _, err := dec.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: malformed XML body (%v): %q", label, err, body)
				}
				break
			}
		}
	}
	if res.StatusCode == 206 && method == "GET" {
		m := contentRangeRE.FindStringSubmatch(res.Header.Get("Content-Range"))
		if m == nil {
			t.Fatalf("%s: 206 with Content-Range %q", label, res.Header.Get("Content-Range"))
		}
		start, _ := strconv.ParseInt(m[1], 10, 64)
		end, _ := strconv.ParseInt(m[2], 10, 64)
		size, _ := strconv.ParseInt(m[3], 10, 64)
		if !(start <= end && end < size) || end-start+1 != int64(len(body)) {
			t.Fatalf("%s: Content-Range %s with %d bytes", label, m[0], len(body))
		}
	}
	return ""
}

// FuzzServeRequest runs whole requests through the server's http.Handler.
// Beyond checkResponse: an unsigned or tampered request never succeeds (the
// server demands signatures), a request the SDK signed is never refused for
// its signature (the verifier agrees with the SDK on every request the SDK can
// send, whatever its key, query or headers), and plain requests on the
// fixture get the answer they must.
func FuzzServeRequest(f *testing.F) {
	p1 := `"` + md5Hex(fuzzParts[0]) + `"`
	p2 := `"` + md5Hex(fuzzParts[1]) + `"`
	complete1 := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + p1 + "</ETag></Part></CompleteMultipartUpload>"
	complete2 := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + p1 + "</ETag></Part>" +
		"<Part><PartNumber>2</PartNumber><ETag>" + p2 + "</ETag></Part></CompleteMultipartUpload>"
	del := `<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet><Object><Key>a.txt</Key></Object><Object><Key>nope</Key></Object></Delete>`
	up := "uploadId=" + fuzzUploadID
	seeds := []fuzzInput{
		{1, "GET", "", "", "", "", nil},                             // ListBuckets
		{1, "GET", testBucket, "a.txt", "", "", nil},                // GetObject
		{2, "GET", testBucket, "a.txt", "", "", nil},                // the same, V1
		{1, "HEAD", testBucket, "dir/b.bin", "", "", nil},           // HeadObject
		{1, "HEAD", testBucket, "dir/b.bin", "objectMeta", "", nil}, // GetObjectMeta
		{1, "GET", testBucket, "dir/b.bin", "", "Range: bytes=10-19", nil},
		{1, "GET", testBucket, "dir/b.bin", "", "Range: bytes=-5\nx-oss-range-behavior: standard", nil},
		{1, "GET", testBucket, "dir/b.bin", "", "Range: bytes=400-\nx-oss-range-behavior: standard", nil},
		{1, "GET", testBucket, "a.txt", "response-content-type=text/plain&response-cache-control=no-cache", "", nil},
		{1, "GET", testBucket, "a.txt", "", `If-None-Match: "` + md5Hex(fuzzObjects["a.txt"]) + `"`, nil},
		{1, "GET", testBucket, "a.txt", "", `If-Match: "nope"`, nil},
		{1, "GET", testBucket, "missing", "", "", nil},
		{1, "PUT", testBucket, "new/key ü+%?#.txt", "", "Content-Type: text/plain\nx-oss-meta-a: b", []byte("data")},
		{1, "PUT", testBucket, "a.txt", "", "x-oss-forbid-overwrite: true", []byte("data")},
		{1, "PUT", testBucket, "put.md5", "", "Content-MD5: " + md5B64([]byte("data")), []byte("data")},
		{2, "PUT", testBucket, "v1/key with spaces", "", "x-oss-meta-x: y", []byte("v1 data")},
		{1, "PUT", testBucket, "copy", "", "x-oss-copy-source: /bucket/a.txt\nx-oss-metadata-directive: REPLACE", nil},
		{1, "POST", testBucket, "app.log", "append&position=7", "", []byte("line 2\n")},
		{1, "POST", testBucket, "new.log", "append&position=0", "", []byte("x")},
		{1, "DELETE", testBucket, "a.txt", "", "", nil},
		{1, "GET", testBucket, "", "list-type=2&prefix=dir/&delimiter=/&max-keys=1&encoding-type=url", "", nil},
		{1, "GET", testBucket, "", "list-type=2&continuation-token=" + encodeToken("a.txt", false) + "&fetch-owner=true", "", nil},
		{2, "GET", testBucket, "", "prefix=dir/&delimiter=/&marker=dir/sub/", "", nil},
		{1, "GET", testBucket, "", "bucketInfo", "", nil},
		{1, "GET", testBucket, "", "location", "", nil},
		{2, "GET", testBucket, "", "acl", "", nil},
		{1, "GET", testBucket, "", "uploads&prefix=mp/&encoding-type=url", "", nil},
		{1, "PUT", "newbucket", "", "", "", []byte("<CreateBucketConfiguration><StorageClass>Standard</StorageClass></CreateBucketConfiguration>")},
		{1, "DELETE", "other", "", "", "", nil},
		{1, "POST", testBucket, "", "delete", "Content-MD5: " + md5B64([]byte(del)), []byte(del)},
		{2, "POST", testBucket, "", "delete&encoding-type=url", "", []byte("<Delete><Quiet>true</Quiet><Object><Key>dir/b.bin</Key></Object></Delete>")},
		{1, "POST", testBucket, "", "delete", "", []byte("<Delete><Object><Key>a")},
		{1, "POST", testBucket, "big/obj.bin", "uploads&encoding-type=url", "Content-Type: application/octet-stream", nil},
		{1, "PUT", testBucket, fuzzMPKey, "partNumber=3&" + up, "", []byte("third part")},
		{2, "PUT", testBucket, fuzzMPKey, "partNumber=1&" + up, "", []byte("first part")},
		{1, "GET", testBucket, fuzzMPKey, up + "&max-parts=1&part-number-marker=0&encoding-type=url", "", nil},
		{1, "POST", testBucket, fuzzMPKey, up + "&encoding-type=url", "", []byte(complete1)},
		{1, "POST", testBucket, fuzzMPKey, up, "", []byte(complete2)},                                             // EntityTooSmall
		{1, "POST", testBucket, fuzzMPKey, up, "x-oss-complete-all: yes", nil},                                    // EntityTooSmall
		{1, "POST", testBucket, fuzzMPKey, up, "", []byte("<CompleteMultipartUpload></CompleteMultipartUpload>")}, // MalformedXML
		{2, "DELETE", testBucket, fuzzMPKey, up, "", nil},
		{1, "GET", testBucket, "a.txt", "x-oss-signature=abc", "", nil}, // was refused: the verifier left the parameter out
		{2, "GET", testBucket, "a.txt", "", "Content-Type: a\nContent-Type: b", nil},
		{1 + 3*1, "GET", testBucket, "a.txt", "", "", nil}, // tampered: signature
		{2 + 3*1, "GET", testBucket, "a.txt", "", "", nil},
		{1 + 3*2, "PUT", testBucket, "k", "", "", []byte("x")}, // tampered: extra signed header
		{2 + 3*3, "GET", testBucket, "a.txt", "", "", nil},     // tampered: path
		// Unsigned, as written.
		{0, "GET", testBucket, "a.txt", "", "", nil},
		{0, "GET", testBucket, "a.txt", "", "Authorization: OSS4-HMAC-SHA256 Credential=test-ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=" + goldenV4Sig + "\nx-oss-date: 20231216T162057Z\nx-oss-content-sha256: UNSIGNED-PAYLOAD", nil},
		{0, "PUT", "examplebucket", "nelson", "", "Authorization: OSS test-ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=\nDate: " + goldenV1Date + "\nContent-MD5: eB5eJF1ptWaXm4bijSPyxw==", []byte("x")},
		{0, "GET", testBucket, "a.txt", "", "Authorization: OSS4-HMAC-SHA256 Credential=test-ak", nil},
		{0, "GET", testBucket, "a.txt", "", "Authorization: Bearer x", nil},
		{0, "POST", testBucket, "", "delete", "Authorization: OSS test-ak:x\nDate: Mon, 02 Jan 2006 15:04:05 GMT", []byte(del)},
		{0, "GET", "", "", "", "", nil},
		{0, "PATCH", testBucket, "a.txt", "", "", nil},
	}
	for _, s := range seeds {
		f.Add(s.mode, s.method, s.bucket, s.key, s.query, s.headers, s.body)
	}
	f.Fuzz(func(t *testing.T, mode uint8, method, bucket, key, query, headers string, body []byte) {
		in := fuzzInput{mode, method, bucket, key, query, headers, body}
		if in.signing() == 0 {
			r := rawRequest(in)
			if r == nil {
				return
			}
			rec := httptest.NewRecorder()
			fuzzServer(t, time.Now()).ServeHTTP(rec, r)
			label := fmt.Sprintf("unsigned %s %s", r.Method, r.RequestURI)
			checkResponse(t, r.Method, rec, label)
			if rec.Code < 400 {
				t.Fatalf("%s: an unsigned request got %d", label, rec.Code)
			}
			return
		}
		r, m, b, k := sdkRequest(t, in)
		if r == nil {
			return
		}
		rec := httptest.NewRecorder()
		fuzzServer(t, fuzzClock).ServeHTTP(rec, r)
		label := fmt.Sprintf("%s-signed (tamper %d) %s %s", map[int]string{1: "V4", 2: "V1"}[in.signing()], in.tamper(), r.Method, r.RequestURI)
		code := checkResponse(t, r.Method, rec, label)
		if in.tamper() != 0 {
			if rec.Code < 400 {
				t.Fatalf("%s: a tampered request got %d", label, rec.Code)
			}
			return
		}
		if slices.Contains(authFailures, code) || (code == "InvalidArgument" && strings.Contains(rec.Body.String(), "Authorization header")) {
			t.Fatalf("%s: the SDK's signature refused: %d %s", label, rec.Code, rec.Body.String())
		}
		if want := expectedStatus(m, b, k, in); want != 0 && rec.Code != want {
			t.Fatalf("%s: status %d, want %d: %s", label, rec.Code, want, rec.Body.String())
		}
	})
}
