package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func appendReq(key string, pos int64, data []byte, initCRC *string) *oss.AppendObjectRequest {
	return &oss.AppendObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), Position: oss.Ptr(pos), Body: bytes.NewReader(data), InitHashCRC64: initCRC}
}

func TestAppendObject(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	chunks := [][]byte{testData(6, 1), testData(1000, 2), testData(70000, 3), nil, []byte("end")}
	var all []byte
	crc := oss.Ptr("0")
	for i, ch := range chunks {
		// InitHashCRC64 makes the SDK check the whole-object CRC the server returns.
		res, err := c.AppendObject(bg, appendReq("app", int64(len(all)), ch, crc))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		all = append(all, ch...)
		if res.NextPosition != int64(len(all)) || oss.ToString(res.HashCRC64) != strconv.FormatUint(crcOf(all), 10) {
			t.Fatalf("append %d: next %d crc %s, want %d %d", i, res.NextPosition, oss.ToString(res.HashCRC64), len(all), crcOf(all))
		}
		crc = res.HashCRC64
	}
	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("app")})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(h.ObjectType) != "Appendable" || h.ContentLength != int64(len(all)) || oss.ToString(h.NextAppendPosition) != strconv.Itoa(len(all)) ||
		oss.ToString(h.HashCRC64) != strconv.FormatUint(crcOf(all), 10) {
		t.Fatalf("head: %+v", h)
	}
	if got := mustGet(t, c, testBucket, "app"); !bytes.Equal(got, all) {
		t.Fatal("content differs")
	}

	// Wrong positions: 409 PositionNotEqualToLength, with the right one in a header.
	for _, pos := range []int64{0, int64(len(all)) - 1, int64(len(all)) + 1} {
		_, err := c.AppendObject(bg, appendReq("app", pos, []byte("x"), nil))
		se := wantServiceError(t, err, 409, "PositionNotEqualToLength")
		if se.Headers.Get("x-oss-next-append-position") != strconv.Itoa(len(all)) {
			t.Fatalf("next position header %q", se.Headers.Get("x-oss-next-append-position"))
		}
	}
	_, err = c.AppendObject(bg, appendReq("new", 5, []byte("x"), nil))
	wantServiceError(t, err, 409, "PositionNotEqualToLength")
	if got := mustGet(t, c, testBucket, "app"); !bytes.Equal(got, all) {
		t.Fatal("a refused append changed the object")
	}

	// Appending to a Normal object: 409 ObjectNotAppendable.
	mustPut(t, c, testBucket, "normal", []byte("abc"))
	for _, pos := range []int64{0, 3} {
		_, err := c.AppendObject(bg, appendReq("normal", pos, []byte("x"), nil))
		wantServiceError(t, err, 409, "ObjectNotAppendable")
	}
	// PutObject over an appendable object makes it Normal.
	mustPut(t, c, testBucket, "app", []byte("fresh"))
	_, err = c.AppendObject(bg, appendReq("app", 5, []byte("x"), nil))
	wantServiceError(t, err, 409, "ObjectNotAppendable")
	// A missing position is an error.
	_, err = c.InvokeOperation(bg, &oss.OperationInput{OpName: "AppendObject", Method: "POST", Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p"),
		Parameters: map[string]string{"append": ""}, Body: strings.NewReader("x")})
	wantServiceError(t, err, 400, "InvalidArgument")
}

func TestAppendFile(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	af, err := c.AppendFile(bg, testBucket, "af/log.txt")
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, s := range []string{"hello ", "world", "\n"} {
		n, err := af.Write([]byte(s))
		if err != nil || n != len(s) {
			t.Fatalf("write: %d %v", n, err)
		}
		all = append(all, s...)
	}
	big := testData(200<<10, 4)
	if n, err := af.WriteFrom(bytes.NewReader(big)); err != nil || n != int64(len(big)) {
		t.Fatalf("write from: %d %v", n, err)
	}
	all = append(all, big...)
	st, err := af.Stat()
	if err != nil || st.Size() != int64(len(all)) {
		t.Fatalf("stat: %v %v", st, err)
	}
	if err := af.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening continues at the end, with the CRC chain from HEAD.
	af, err = c.AppendFile(bg, testBucket, "af/log.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	af.Close()
	all = append(all, "more"...)
	if got := mustGet(t, c, testBucket, "af/log.txt"); !bytes.Equal(got, all) {
		t.Fatal("content differs")
	}
	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("af/log.txt")})
	if err != nil || oss.ToString(h.ContentType) != "text/plain; charset=utf-8" && oss.ToString(h.ContentType) != "text/plain" {
		t.Fatalf("head: %v %v", err, oss.ToString(h.ContentType))
	}
	// AppendFile refuses a Normal object.
	mustPut(t, c, testBucket, "af/normal", []byte("x"))
	if _, err := c.AppendFile(bg, testBucket, "af/normal"); err == nil {
		t.Fatal("AppendFile opened a Normal object")
	}
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, func(o *Options) { o.Buckets = append(o.Buckets, "other-bucket") })
	c := newClient(u, noRetry)
	data := testData(3000, 5)
	src := "src/a b+ü%.bin"
	if _, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(src), Body: bytes.NewReader(data),
		ContentType: oss.Ptr("application/x-test"), Metadata: map[string]string{"color": "blue", "size": "xl"}}); err != nil {
		t.Fatal(err)
	}
	srcHead, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(src)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []struct{ bucket, key string }{{testBucket, "dst/copy"}, {"other-bucket", "x/y z"}} {
		res, err := c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(dst.bucket), Key: oss.Ptr(dst.key), SourceBucket: oss.Ptr(testBucket), SourceKey: oss.Ptr(src)})
		if err != nil {
			t.Fatalf("copy to %s/%s: %v", dst.bucket, dst.key, err)
		}
		if oss.ToString(res.ETag) != oss.ToString(srcHead.ETag) || oss.ToString(res.HashCRC64) != strconv.FormatUint(crcOf(data), 10) {
			t.Fatalf("copy result: %+v", res)
		}
		h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(dst.bucket), Key: oss.Ptr(dst.key)})
		if err != nil {
			t.Fatal(err)
		}
		if h.Metadata["color"] != "blue" || h.Metadata["size"] != "xl" || oss.ToString(h.ContentType) != "application/x-test" ||
			oss.ToString(h.ETag) != oss.ToString(srcHead.ETag) {
			t.Fatalf("copied head: %+v", h)
		}
		if got := mustGet(t, c, dst.bucket, dst.key); !bytes.Equal(got, data) {
			t.Fatal("copied content differs")
		}
	}
	// REPLACE takes the metadata of the request.
	if _, err := c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("dst/replaced"), SourceKey: oss.Ptr(src),
		MetadataDirective: oss.Ptr("REPLACE"), Metadata: map[string]string{"color": "red"}, ContentType: oss.Ptr("text/x-new")}); err != nil {
		t.Fatal(err)
	}
	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("dst/replaced")})
	if err != nil || h.Metadata["color"] != "red" || h.Metadata["size"] != "" || oss.ToString(h.ContentType) != "text/x-new" {
		t.Fatalf("replaced head: %v %+v", err, h)
	}
	// Copying onto itself with REPLACE changes only the metadata.
	if _, err := c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(src), SourceKey: oss.Ptr(src),
		MetadataDirective: oss.Ptr("REPLACE"), Metadata: map[string]string{"v": "2"}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, testBucket, src); !bytes.Equal(got, data) {
		t.Fatal("self copy changed the content")
	}
	// A source key that looks like a query.
	mustPut(t, c, testBucket, "q?versionId=x&y", []byte("odd"))
	if _, err := c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("dst/odd"), SourceKey: oss.Ptr("q?versionId=x&y")}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, testBucket, "dst/odd"); string(got) != "odd" {
		t.Fatalf("copy of an odd key: %q", got)
	}
	// Missing sources.
	_, err = c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("d"), SourceKey: oss.Ptr("missing")})
	wantServiceError(t, err, 404, "NoSuchKey")
	_, err = c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("d"), SourceBucket: oss.Ptr("no-such-bucket"), SourceKey: oss.Ptr(src)})
	wantServiceError(t, err, 404, "NoSuchBucket")
	_, err = c.CopyObject(bg, &oss.CopyObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("dst/copy"), SourceKey: oss.Ptr(src), ForbidOverwrite: oss.Ptr("true")})
	wantServiceError(t, err, 409, "FileAlreadyExists")
	if st := srv.SettledStats(); st.Count("CopyObject", 200) != 5 {
		t.Fatalf("stats: %v", st.Requests)
	}
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	// DeleteObject answers 204 whether or not the key exists.
	for _, key := range []string{"gone", "never-existed"} {
		if key == "gone" {
			mustPut(t, c, testBucket, key, []byte("x"))
		}
		res, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("delete %s: %v %+v", key, err, res)
		}
		_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
		wantServiceError(t, err, 404, "NoSuchKey")
	}
	_, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr("no-such-bucket"), Key: oss.Ptr("k")})
	wantServiceError(t, err, 404, "NoSuchBucket")

	keys := []string{"m/a", "m/b b", "m/c+d", "m/ü%&<>", "m/missing"}
	for _, k := range keys[:4] {
		mustPut(t, c, testBucket, k, []byte(k))
	}
	mustPut(t, c, testBucket, "m/keep", []byte("keep"))
	var objs []oss.DeleteObject
	for _, k := range keys {
		objs = append(objs, oss.DeleteObject{Key: oss.Ptr(k)})
	}
	res, err := c.DeleteMultipleObjects(bg, &oss.DeleteMultipleObjectsRequest{Bucket: oss.Ptr(testBucket), Objects: objs})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range res.DeletedObjects {
		deleted = append(deleted, oss.ToString(d.Key))
	}
	if strings.Join(deleted, "|") != strings.Join(keys, "|") {
		t.Fatalf("deleted %q, want %q", deleted, keys)
	}
	lr, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("m/")})
	if err != nil || len(lr.Contents) != 1 || oss.ToString(lr.Contents[0].Key) != "m/keep" {
		t.Fatalf("after delete: %v %+v", err, lr)
	}
	// Quiet mode reports nothing.
	res, err = c.DeleteMultipleObjects(bg, &oss.DeleteMultipleObjectsRequest{Bucket: oss.Ptr(testBucket), Objects: []oss.DeleteObject{{Key: oss.Ptr("m/keep")}}, Quiet: true})
	if err != nil || len(res.DeletedObjects) != 0 {
		t.Fatalf("quiet delete: %v %+v", err, res)
	}
	_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("m/keep")})
	wantServiceError(t, err, 404, "NoSuchKey")
}

func TestObjectErrorsAndHeaders(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u, noRetry)

	// HEAD has no body: the SDK decodes the error from x-oss-err.
	_, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("missing")})
	se := wantServiceError(t, err, 404, "NoSuchKey")
	if se.EC != "0026-00000001" || se.Message == "" || se.RequestID != se.Headers.Get("x-oss-request-id") {
		t.Fatalf("head error: %+v", se)
	}
	if ok, err := c.IsObjectExist(bg, testBucket, "missing"); ok || err != nil {
		t.Fatalf("IsObjectExist: %v %v", ok, err)
	}
	_, err = c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("missing")})
	se = wantServiceError(t, err, 404, "NoSuchKey")
	if !strings.Contains(string(se.Snapshot), "<Key>missing</Key>") {
		t.Fatalf("error body: %s", se.Snapshot)
	}
	_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr("no-such-bucket"), Key: oss.Ptr("k")})
	wantServiceError(t, err, 404, "NoSuchBucket")
	_, err = c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr("no-such-bucket")})
	wantServiceError(t, err, 404, "NoSuchBucket")

	// Raw check of the error document.
	resp, body := rawDo(t, "GET", u, testBucket, "missing", "", nil)
	var doc struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestId string
		HostId    string
		EC        string
		Key       string
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || doc.Code != "NoSuchKey" || doc.Key != "missing" || doc.RequestId != resp.Header.Get("x-oss-request-id") ||
		resp.Header.Get("x-oss-ec") != doc.EC || resp.Header.Get("Content-Type") != "application/xml" || resp.Header.Get("Date") == "" {
		t.Fatalf("error document: %d %+v %v", resp.StatusCode, doc, resp.Header)
	}

	// PutObject: metadata, content type, MD5, overwrite protection.
	data := []byte("payload")
	sum := md5.Sum(data)
	pr, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt"), Body: bytes.NewReader(data),
		ContentMD5: oss.Ptr(base64.StdEncoding.EncodeToString(sum[:])), Metadata: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(pr.ContentMD5) != base64.StdEncoding.EncodeToString(sum[:]) || oss.ToString(pr.HashCRC64) != strconv.FormatUint(crcOf(data), 10) {
		t.Fatalf("put result: %+v", pr)
	}
	_, err = c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p2"), Body: bytes.NewReader(data),
		ContentMD5: oss.Ptr("1B2M2Y8AsgTpgAmY7PhCfg==")})
	wantServiceError(t, err, 400, "InvalidDigest")
	_, err = c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt"), Body: bytes.NewReader(data), ForbidOverwrite: oss.Ptr("true")})
	wantServiceError(t, err, 409, "FileAlreadyExists")

	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt")})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt")})
	if err != nil {
		t.Fatal(err)
	}
	g.Body.Close()
	// Clients compare ETag and Last-Modified as exact strings.
	for _, name := range []string{"ETag", "Last-Modified", "x-oss-hash-crc64ecma", "Content-Type", "x-oss-object-type", "Content-Length"} {
		if h.Headers.Get(name) != g.Headers.Get(name) || h.Headers.Get(name) == "" {
			t.Fatalf("%s: HEAD %q, GET %q", name, h.Headers.Get(name), g.Headers.Get(name))
		}
	}
	if h.Metadata["a"] != "1" || oss.ToString(h.ObjectType) != "Normal" || !strings.HasPrefix(oss.ToString(h.ContentType), "text/plain") ||
		oss.ToString(h.ETag) != `"`+strings.ToUpper(base64ToHex(base64.StdEncoding.EncodeToString(sum[:])))+`"` || h.Headers.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("head: %+v", h)
	}

	// Conditional reads.
	_, err = c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt"), IfMatch: oss.Ptr(`"0000"`)})
	wantServiceError(t, err, 412, "PreconditionFailed")
	g, err = c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt"), IfMatch: h.ETag})
	if err != nil {
		t.Fatal(err)
	}
	g.Body.Close()
	req, _ := http.NewRequest("GET", u+"/"+testBucket+"/p.txt", nil)
	req.Header.Set("If-None-Match", oss.ToString(h.ETag))
	signRequest(t, req, testBucket, "p.txt", false, testAK, testSK, "")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}

	// response-* overrides.
	g, err = c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("p.txt"), ResponseContentType: oss.Ptr("application/x-over"),
		ResponseContentDisposition: oss.Ptr("attachment")})
	if err != nil {
		t.Fatal(err)
	}
	g.Body.Close()
	if oss.ToString(g.ContentType) != "application/x-over" || g.Headers.Get("Content-Disposition") != "attachment" {
		t.Fatalf("overrides: %v", g.Headers)
	}
}

func base64ToHex(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	if _, err := c.PutBucket(bg, &oss.PutBucketRequest{Bucket: oss.Ptr("new-bucket")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutBucket(bg, &oss.PutBucketRequest{Bucket: oss.Ptr("new-bucket")})
	wantServiceError(t, err, 409, "BucketAlreadyExists")
	lb, err := c.ListBuckets(bg, &oss.ListBucketsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, oss.ToString(b.Name))
	}
	if strings.Join(names, ",") != "bucket,new-bucket" {
		t.Fatalf("buckets %v", names)
	}
	mustPut(t, c, "new-bucket", "k", []byte("v"))
	_, err = c.DeleteBucket(bg, &oss.DeleteBucketRequest{Bucket: oss.Ptr("new-bucket")})
	wantServiceError(t, err, 409, "BucketNotEmpty")
	if _, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr("new-bucket"), Key: oss.Ptr("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(bg, &oss.DeleteBucketRequest{Bucket: oss.Ptr("new-bucket")}); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.IsBucketExist(bg, "new-bucket"); ok || err != nil {
		t.Fatalf("IsBucketExist after delete: %v %v", ok, err)
	}
	if ok, err := c.IsBucketExist(bg, testBucket); !ok || err != nil {
		t.Fatalf("IsBucketExist: %v %v", ok, err)
	}
}
