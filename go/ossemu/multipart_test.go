package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

var multipartETag = regexp.MustCompile(`^"[0-9A-F]{32}-[0-9]+"$`)

// multipartETagOf is OSS's (and S3's) multipart ETag: the MD5 of the parts'
// binary MD5s, then "-" and the part count.
func multipartETagOf(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf(`"%s-%d"`, strings.ToUpper(hex.EncodeToString(h.Sum(nil))), len(parts))
}

func initiate(t *testing.T, c *oss.Client, key string) string {
	t.Helper()
	res, err := c.InitiateMultipartUpload(bg, &oss.InitiateMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(res.Key) != key || oss.ToString(res.UploadId) == "" {
		t.Fatalf("initiate: %+v", res)
	}
	return *res.UploadId
}

func uploadPart(t *testing.T, c *oss.Client, key, id string, n int32, data []byte) *oss.UploadPartResult {
	t.Helper()
	res, err := c.UploadPart(bg, &oss.UploadPartRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), UploadId: oss.Ptr(id),
		PartNumber: n, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("upload part %d: %v", n, err)
	}
	return res
}

func complete(c *oss.Client, key, id string, parts ...oss.UploadPart) (*oss.CompleteMultipartUploadResult, error) {
	return c.CompleteMultipartUpload(bg, &oss.CompleteMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), UploadId: oss.Ptr(id),
		CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: parts}})
}

// x-oss-forbid-overwrite holds at Complete too: an object that appeared
// after the upload was initiated is not replaced, and the upload is left to
// abort (or to complete without the header).
func TestMultipartForbidOverwriteAtComplete(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	res, err := c.InitiateMultipartUpload(bg, &oss.InitiateMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("excl"),
		ForbidOverwrite: oss.Ptr("true")})
	if err != nil {
		t.Fatal(err)
	}
	id := oss.ToString(res.UploadId)
	part := uploadPart(t, c, "excl", id, 1, testData(1000, 1))
	mustPut(t, c, testBucket, "excl", []byte("first"))
	parts := []oss.UploadPart{{PartNumber: 1, ETag: part.ETag}}
	_, err = c.CompleteMultipartUpload(bg, &oss.CompleteMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("excl"),
		UploadId: oss.Ptr(id), CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: parts}, ForbidOverwrite: oss.Ptr("true")})
	wantServiceError(t, err, 409, "FileAlreadyExists")
	if got := mustGet(t, c, testBucket, "excl"); string(got) != "first" {
		t.Fatalf("the object was replaced: %q", got)
	}
	if _, err := complete(c, "excl", id, parts...); err != nil {
		t.Fatalf("the upload did not stay: %v", err)
	}
}

func TestMultipartUploader(t *testing.T) {
	t.Parallel()
	srv, u := newTestServer(t, nil)
	c := newClient(u)
	data := testData(350<<10, 11)
	up := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 << 10; o.ParallelNum = 3 })
	// The Uploader checks the combined part CRCs against the Complete answer.
	res, err := up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp/obj"),
		Metadata: map[string]string{"owner": "me"}}, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := multipartETagOf(data[:100<<10], data[100<<10:200<<10], data[200<<10:300<<10], data[300<<10:])
	if got := oss.ToString(res.ETag); got != want || !multipartETag.MatchString(got) {
		t.Fatalf("ETag %s, want %s", got, want)
	}
	if got := oss.ToString(res.HashCRC64); got != strconv.FormatUint(crcOf(data), 10) {
		t.Fatalf("CRC %s, want %d", got, crcOf(data))
	}
	if st := srv.SettledStats(); st.Count("UploadPart", 200) != 4 || st.Count("CompleteMultipartUpload", 200) != 1 {
		t.Fatalf("stats: %v", st.Requests)
	}
	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp/obj")})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(h.ObjectType) != "Multipart" || oss.ToString(h.ETag) != want || h.ContentLength != int64(len(data)) ||
		h.Metadata["owner"] != "me" || oss.ToString(h.HashCRC64) != strconv.FormatUint(crcOf(data), 10) {
		t.Fatalf("head: %+v", h)
	}
	if got := mustGet(t, c, testBucket, "mp/obj"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	// The Downloader checks the whole-object CRC of a multipart object.
	d := c.NewDownloader(func(o *oss.DownloaderOptions) { o.PartSize = 128 << 10 })
	if _, err := d.DownloadFile(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp/obj")}, t.TempDir()+"/f"); err != nil {
		t.Fatal(err)
	}

	// An unknown-length stream always goes multipart, even when small.
	res, err = up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp/tiny")}, readerOnly{strings.NewReader("tiny")})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(res.ETag) != multipartETagOf([]byte("tiny")) || string(mustGet(t, c, testBucket, "mp/tiny")) != "tiny" {
		t.Fatalf("tiny multipart: %s", oss.ToString(res.ETag))
	}
}

func TestMultipartWriteOnlyFile(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	data := testData(250<<10, 12)
	w, err := c.NewWriteOnlyFile(bg, testBucket, "wof", func(o *oss.WriteOnlyOptions) { o.PartSize = 100 << 10 })
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 7000 {
		if _, err := w.Write(data[off:min(off+7000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, testBucket, "wof"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestMultipartLowLevel(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	key := "low/a b+ü.bin"
	id := initiate(t, c, key)
	p1, p2, p3 := testData(100<<10, 1), testData(100<<10, 2), testData(10, 3)
	r1 := uploadPart(t, c, key, id, 1, p1)
	// A part uploaded again replaces the earlier one.
	uploadPart(t, c, key, id, 3, []byte("to be replaced"))
	r3 := uploadPart(t, c, key, id, 3, p3)
	r2 := uploadPart(t, c, key, id, 2, p2)
	for i, r := range []*oss.UploadPartResult{r1, r2, r3} {
		p := [][]byte{p1, p2, p3}[i]
		sum := md5.Sum(p)
		if oss.ToString(r.ETag) != `"`+strings.ToUpper(hex.EncodeToString(sum[:]))+`"` || oss.ToString(r.HashCRC64) != strconv.FormatUint(crcOf(p), 10) {
			t.Fatalf("part %d: ETag %s CRC %s", i+1, oss.ToString(r.ETag), oss.ToString(r.HashCRC64))
		}
	}

	// ListParts, one page and paged.
	lp, err := c.ListParts(bg, &oss.ListPartsRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), UploadId: oss.Ptr(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != 3 || oss.ToString(lp.Key) != key {
		t.Fatalf("list parts: %+v", lp)
	}
	for i, p := range lp.Parts {
		want := []*oss.UploadPartResult{r1, r2, r3}[i]
		size := []int{len(p1), len(p2), len(p3)}[i]
		if p.PartNumber != int32(i+1) || oss.ToString(p.ETag) != oss.ToString(want.ETag) || p.Size != int64(size) ||
			oss.ToString(p.HashCRC64) != oss.ToString(want.HashCRC64) || p.LastModified == nil {
			t.Fatalf("part %d: %+v", i+1, p)
		}
	}
	pg := c.NewListPartsPaginator(&oss.ListPartsRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), UploadId: oss.Ptr(id), MaxParts: 2})
	var nums []int32
	pages := 0
	for pg.HasNext() {
		page, err := pg.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range page.Parts {
			nums = append(nums, p.PartNumber)
		}
	}
	if fmt.Sprint(nums) != "[1 2 3]" || pages != 2 {
		t.Fatalf("paged parts %v in %d pages", nums, pages)
	}

	// ListMultipartUploads sees this upload and another one, filtered by prefix.
	other := initiate(t, c, "other/x")
	lu, err := c.ListMultipartUploads(bg, &oss.ListMultipartUploadsRequest{Bucket: oss.Ptr(testBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lu.Uploads) != 2 || oss.ToString(lu.Uploads[0].Key) != key || oss.ToString(lu.Uploads[0].UploadId) != id ||
		oss.ToString(lu.Uploads[1].UploadId) != other || lu.Uploads[0].Initiated == nil {
		t.Fatalf("uploads: %+v", lu.Uploads)
	}
	lu, err = c.ListMultipartUploads(bg, &oss.ListMultipartUploadsRequest{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("other/")})
	if err != nil || len(lu.Uploads) != 1 || oss.ToString(lu.Uploads[0].UploadId) != other {
		t.Fatalf("uploads under other/: %v %+v", err, lu)
	}

	// Nothing is visible before Complete.
	_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
	wantServiceError(t, err, 404, "NoSuchKey")

	cr, err := complete(c, key, id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 2, ETag: r2.ETag},
		oss.UploadPart{PartNumber: 3, ETag: r3.ETag})
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append([]byte{}, p1...), p2...), p3...)
	if oss.ToString(cr.ETag) != multipartETagOf(p1, p2, p3) || oss.ToString(cr.Key) != key || oss.ToString(cr.Bucket) != testBucket {
		t.Fatalf("complete: %+v", cr)
	}
	// The Complete CRC is the CRC-64 of the whole object, i.e. the combination
	// of the part CRCs.
	combined := uint64(0)
	for _, p := range [][]byte{p1, p2, p3} {
		combined = oss.CRC64Combine(combined, crcOf(p), uint64(len(p)))
	}
	if oss.ToString(cr.HashCRC64) != strconv.FormatUint(crcOf(all), 10) || combined != crcOf(all) {
		t.Fatalf("complete CRC %s, want %d", oss.ToString(cr.HashCRC64), crcOf(all))
	}
	if got := mustGet(t, c, testBucket, key); !bytes.Equal(got, all) {
		t.Fatal("content differs")
	}
	// The upload is gone once completed.
	_, err = c.ListParts(bg, &oss.ListPartsRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), UploadId: oss.Ptr(id)})
	wantServiceError(t, err, 404, "NoSuchUpload")
	lu, err = c.ListMultipartUploads(bg, &oss.ListMultipartUploadsRequest{Bucket: oss.Ptr(testBucket)})
	if err != nil || len(lu.Uploads) != 1 {
		t.Fatalf("uploads after complete: %v %+v", err, lu)
	}
}

func TestMultipartNonConsecutiveAndCompleteAll(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u)
	p1, p5 := testData(100<<10, 5), testData(77, 6)
	id := initiate(t, c, "gaps")
	r1 := uploadPart(t, c, "gaps", id, 1, p1)
	r5 := uploadPart(t, c, "gaps", id, 5, p5)
	if _, err := complete(c, "gaps", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 5, ETag: r5.ETag}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, testBucket, "gaps"); !bytes.Equal(got, append(append([]byte{}, p1...), p5...)) {
		t.Fatal("content differs")
	}
	// Only the listed parts make the object.
	id = initiate(t, c, "subset")
	r1 = uploadPart(t, c, "subset", id, 1, p1)
	uploadPart(t, c, "subset", id, 2, p5)
	if _, err := complete(c, "subset", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, c, testBucket, "subset"); !bytes.Equal(got, p1) {
		t.Fatal("content differs")
	}
	// x-oss-complete-all takes every uploaded part.
	id = initiate(t, c, "all")
	uploadPart(t, c, "all", id, 2, p5)
	uploadPart(t, c, "all", id, 1, p1)
	res, err := c.CompleteMultipartUpload(bg, &oss.CompleteMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("all"), UploadId: oss.Ptr(id), CompleteAll: oss.Ptr("yes")})
	if err != nil {
		t.Fatal(err)
	}
	if oss.ToString(res.ETag) != multipartETagOf(p1, p5) {
		t.Fatalf("ETag %s", oss.ToString(res.ETag))
	}
}

func TestMultipartErrors(t *testing.T) {
	t.Parallel()
	_, u := newTestServer(t, nil)
	c := newClient(u, noRetry)
	big1, big2, small := testData(100<<10, 7), testData(100<<10, 8), testData(100, 9)

	t.Run("InvalidPartOrder", func(t *testing.T) {
		id := initiate(t, c, "order")
		r1 := uploadPart(t, c, "order", id, 1, big1)
		r2 := uploadPart(t, c, "order", id, 2, big2)
		// The SDK sorts the parts, so send the XML ourselves.
		for _, order := range [][]*oss.UploadPartResult{{r2, r1}, {r1, r1}} {
			var b strings.Builder
			b.WriteString("<CompleteMultipartUpload>")
			for _, r := range order {
				n := 1
				if r == r2 {
					n = 2
				}
				fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", n, oss.ToString(r.ETag))
			}
			b.WriteString("</CompleteMultipartUpload>")
			_, err := c.InvokeOperation(bg, &oss.OperationInput{OpName: "CompleteMultipartUpload", Method: "POST",
				Bucket: oss.Ptr(testBucket), Key: oss.Ptr("order"), Parameters: map[string]string{"uploadId": id},
				Body: strings.NewReader(b.String())})
			wantServiceError(t, err, 400, "InvalidPartOrder")
		}
		// The upload survives a failed Complete.
		if _, err := complete(c, "order", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 2, ETag: r2.ETag}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("EntityTooSmall", func(t *testing.T) {
		id := initiate(t, c, "small")
		r1 := uploadPart(t, c, "small", id, 1, big1)
		r2 := uploadPart(t, c, "small", id, 2, small)
		r3 := uploadPart(t, c, "small", id, 3, big2)
		_, err := complete(c, "small", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 2, ETag: r2.ETag},
			oss.UploadPart{PartNumber: 3, ETag: r3.ETag})
		wantServiceError(t, err, 400, "EntityTooSmall")
		_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("small")})
		wantServiceError(t, err, 404, "NoSuchKey")
		// A small last part is fine.
		if _, err := complete(c, "small", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 2, ETag: r2.ETag}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("InvalidPart", func(t *testing.T) {
		id := initiate(t, c, "badetag")
		r1 := uploadPart(t, c, "badetag", id, 1, big1)
		uploadPart(t, c, "badetag", id, 2, small)
		_, err := complete(c, "badetag", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 2, ETag: oss.Ptr(`"0123456789ABCDEF0123456789ABCDEF"`)})
		wantServiceError(t, err, 400, "InvalidPart")
		_, err = complete(c, "badetag", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag}, oss.UploadPart{PartNumber: 9, ETag: r1.ETag})
		wantServiceError(t, err, 400, "InvalidPart")
		_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("badetag")})
		wantServiceError(t, err, 404, "NoSuchKey")
	})

	t.Run("Abort", func(t *testing.T) {
		// An old object under the key stays as it is.
		mustPut(t, c, testBucket, "aborted", []byte("old"))
		id := initiate(t, c, "aborted")
		r1 := uploadPart(t, c, "aborted", id, 1, big1)
		res, err := c.AbortMultipartUpload(bg, &oss.AbortMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("aborted"), UploadId: oss.Ptr(id)})
		if err != nil || res.StatusCode != 204 {
			t.Fatalf("abort: %v %+v", err, res)
		}
		_, err = c.UploadPart(bg, &oss.UploadPartRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("aborted"), UploadId: oss.Ptr(id), PartNumber: 2, Body: bytes.NewReader(small)})
		wantServiceError(t, err, 404, "NoSuchUpload")
		_, err = complete(c, "aborted", id, oss.UploadPart{PartNumber: 1, ETag: r1.ETag})
		wantServiceError(t, err, 404, "NoSuchUpload")
		_, err = c.ListParts(bg, &oss.ListPartsRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("aborted"), UploadId: oss.Ptr(id)})
		wantServiceError(t, err, 404, "NoSuchUpload")
		_, err = c.AbortMultipartUpload(bg, &oss.AbortMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("aborted"), UploadId: oss.Ptr(id)})
		wantServiceError(t, err, 404, "NoSuchUpload")
		if string(mustGet(t, c, testBucket, "aborted")) != "old" {
			t.Fatal("old object changed")
		}
		lu, err := c.ListMultipartUploads(bg, &oss.ListMultipartUploadsRequest{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("aborted")})
		if err != nil || len(lu.Uploads) != 0 {
			t.Fatalf("uploads after abort: %v %+v", err, lu.Uploads)
		}
		// A new upload that is aborted leaves no object at all.
		id = initiate(t, c, "aborted-new")
		uploadPart(t, c, "aborted-new", id, 1, small)
		if _, err := c.AbortMultipartUpload(bg, &oss.AbortMultipartUploadRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("aborted-new"), UploadId: oss.Ptr(id)}); err != nil {
			t.Fatal(err)
		}
		_, err = c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("aborted-new")})
		wantServiceError(t, err, 404, "NoSuchKey")
		lr, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("aborted")})
		if err != nil || len(lr.Contents) != 1 || oss.ToString(lr.Contents[0].Key) != "aborted" {
			t.Fatalf("listing after abort: %v %+v", err, lr)
		}
	})

	t.Run("WrongUpload", func(t *testing.T) {
		id := initiate(t, c, "k1")
		// An upload id is bound to its key.
		_, err := c.UploadPart(bg, &oss.UploadPartRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k2"), UploadId: oss.Ptr(id), PartNumber: 1, Body: bytes.NewReader(small)})
		wantServiceError(t, err, 404, "NoSuchUpload")
		_, err = c.UploadPart(bg, &oss.UploadPartRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k1"), UploadId: oss.Ptr("nope"), PartNumber: 1, Body: bytes.NewReader(small)})
		wantServiceError(t, err, 404, "NoSuchUpload")
		_, err = c.UploadPart(bg, &oss.UploadPartRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k1"), UploadId: oss.Ptr(id), PartNumber: 10001, Body: bytes.NewReader(small)})
		wantServiceError(t, err, 400, "InvalidArgument")
		_, err = complete(c, "k1", id)
		wantServiceError(t, err, 400, "MalformedXML")
	})
}
