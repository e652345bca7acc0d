package ossemu

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// startDir starts a server on dir and returns it with a client; stop shuts
// the HTTP side down (as a process exit would).
func startDir(t *testing.T, dir string) (srv *Server, c *oss.Client, stop func()) {
	t.Helper()
	srv, err := New(Options{Region: testRegion, AccessKeyID: testAK, AccessKeySecret: testSK, Buckets: []string{testBucket}, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, newClient(ts.URL, noRetry), ts.Close
}

type objState struct {
	etag, lastModified, crc, typ, ctype string
	size                                int64
	meta                                map[string]string
	data                                []byte
}

func snapshot(t *testing.T, c *oss.Client, bucket, key string) objState {
	t.Helper()
	h, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	return objState{h.Headers.Get("ETag"), h.Headers.Get("Last-Modified"), oss.ToString(h.HashCRC64), oss.ToString(h.ObjectType),
		oss.ToString(h.ContentType), h.ContentLength, h.Metadata, mustGet(t, c, bucket, key)}
}

func listAll(t *testing.T, c *oss.Client, bucket string) []string {
	t.Helper()
	var keys []string
	p := c.NewListObjectsV2Paginator(&oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), MaxKeys: 2})
	for p.HasNext() {
		page, err := p.NextPage(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, oss.ToString(o.Key))
		}
	}
	return keys
}

func TestDataDirPersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, c, stop := startDir(t, dir)

	if _, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("n/a b+ü.txt"), Body: strings.NewReader("normal"),
		Metadata: map[string]string{"k": "v"}, ContentType: oss.Ptr("text/x-mine")}); err != nil {
		t.Fatal(err)
	}
	big := testData(250<<10, 1)
	up := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 << 10 })
	if _, err := up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp")}, bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"first,", "second,"} {
		if _, err := c.AppendObject(bg, appendReq("app", int64(i*len("first,")), []byte(s), nil)); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, c, testBucket, "over", []byte("v1"))
	mustPut(t, c, testBucket, "over", []byte("version 2"))
	mustPut(t, c, testBucket, "deleted", []byte("x"))
	if _, err := c.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("deleted")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutBucket(bg, &oss.PutBucketRequest{Bucket: oss.Ptr("second")}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "second", "s", []byte("in second"))
	if _, err := c.PutBucket(bg, &oss.PutBucketRequest{Bucket: oss.Ptr("empty-bucket")}); err != nil {
		t.Fatal(err)
	}
	// An upload in progress does not survive a restart (and leaves nothing).
	id := initiate(t, c, "pending")
	uploadPart(t, c, "pending", id, 1, []byte("part"))

	keys := []string{"app", "mp", "n/a b+ü.txt", "over"}
	before := map[string]objState{}
	for _, k := range keys {
		before[k] = snapshot(t, c, testBucket, k)
	}
	before["second/s"] = snapshot(t, c, "second", "s")
	stop()

	srv2, c2, stop2 := startDir(t, dir)
	for _, k := range keys {
		if got := snapshot(t, c2, testBucket, k); fmt.Sprint(got) != fmt.Sprint(before[k]) {
			t.Fatalf("%s after restart:\n%+v\nwas\n%+v", k, got, before[k])
		}
	}
	if got := snapshot(t, c2, "second", "s"); fmt.Sprint(got) != fmt.Sprint(before["second/s"]) {
		t.Fatalf("second/s after restart: %+v", got)
	}
	if before["mp"].typ != "Multipart" || before["app"].typ != "Appendable" || before["over"].typ != "Normal" ||
		string(before["app"].data) != "first,second," || string(before["over"].data) != "version 2" || !bytes.Equal(before["mp"].data, big) {
		t.Fatalf("objects before the restart: %v %v %v", before["mp"].typ, before["app"].typ, string(before["app"].data))
	}
	if got := listAll(t, c2, testBucket); strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Fatalf("listing after restart: %v", got)
	}
	_, err := c2.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("deleted")})
	wantServiceError(t, err, 404, "NoSuchKey")
	lb, err := c2.ListBuckets(bg, &oss.ListBucketsRequest{})
	if err != nil || len(lb.Buckets) != 3 {
		t.Fatalf("buckets after restart: %v %+v", err, lb)
	}
	_, err = c2.ListParts(bg, &oss.ListPartsRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("pending"), UploadId: oss.Ptr(id)})
	wantServiceError(t, err, 404, "NoSuchUpload")
	if st := srv2.SettledStats(); st.Objects != 5 || st.StoredBytes != int64(len("normal")+len(big)+len("first,second,")+len("version 2")+len("in second")) {
		t.Fatalf("stats after restart: %+v", st)
	}

	// The appendable object keeps growing, its CRC chain intact.
	res, err := c2.AppendObject(bg, appendReq("app", 13, []byte("third"), oss.Ptr(before["app"].crc)))
	if err != nil || res.NextPosition != 18 {
		t.Fatalf("append after restart: %v", err)
	}
	_, err = c2.AppendObject(bg, appendReq("over", 9, []byte("x"), nil))
	wantServiceError(t, err, 409, "ObjectNotAppendable")
	// Changes after the restart persist too.
	if _, err := c2.DeleteObject(bg, &oss.DeleteObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("over")}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c2, testBucket, "after", []byte("restart"))
	if _, err := c2.DeleteBucket(bg, &oss.DeleteBucketRequest{Bucket: oss.Ptr("empty-bucket")}); err != nil {
		t.Fatal(err)
	}
	stop2()

	_, c3, _ := startDir(t, dir)
	if got := listAll(t, c3, testBucket); strings.Join(got, ",") != "after,app,mp,n/a b+ü.txt" {
		t.Fatalf("listing after the second restart: %v", got)
	}
	if got := mustGet(t, c3, testBucket, "app"); string(got) != "first,second,third" {
		t.Fatalf("appendable after the second restart: %q", got)
	}
	lb, err = c3.ListBuckets(bg, &oss.ListBucketsRequest{})
	if err != nil || len(lb.Buckets) != 2 {
		t.Fatalf("buckets after the second restart: %v %+v", err, lb)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Fatalf("tmp holds %d files after a restart", len(entries))
	}
}

func TestDataDirRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, c, stop := startDir(t, dir)
	mustPut(t, c, testBucket, "ok", []byte("ok"))
	stop()
	// What a crash can leave: an upload in tmp, object bytes whose metadata
	// was never written.
	os.WriteFile(filepath.Join(dir, "tmp", "upload-123"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(dir, "buckets", testBucket, keyFile("ghost")+".data"), []byte("ghost"), 0o644)
	_, c, stop = startDir(t, dir)
	if got := listAll(t, c, testBucket); strings.Join(got, ",") != "ok" {
		t.Fatalf("listing: %v", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Fatal("tmp not cleaned")
	}
	// An object written over the leftover bytes is whole.
	mustPut(t, c, testBucket, "ghost", []byte("real"))
	if got := mustGet(t, c, testBucket, "ghost"); string(got) != "real" {
		t.Fatalf("ghost: %q", got)
	}
	stop()
	// Corrupt metadata is reported, not ignored.
	os.WriteFile(filepath.Join(dir, "buckets", testBucket, keyFile("ok")+".json"), []byte("{"), 0o644)
	if _, err := New(Options{Anonymous: true, DataDir: dir}); err == nil {
		t.Fatal("corrupt metadata accepted")
	}
}

// brokenReader yields n bytes, then fails, so the HTTP client drops the
// connection in the middle of the body.
type brokenReader struct {
	data []byte
	n    int
}

func (r *brokenReader) Read(p []byte) (int, error) {
	if r.n >= len(r.data) {
		return 0, errors.New("client went away")
	}
	k := copy(p, r.data[r.n:])
	r.n += k
	return k, nil
}

func TestDroppedUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "dir"} {
		t.Run(store, func(t *testing.T) {
			dir := ""
			if store == "dir" {
				dir = t.TempDir()
			}
			srv, u := newTestServer(t, func(o *Options) { o.DataDir = dir })
			c := newClient(u, noRetry)
			mustPut(t, c, testBucket, "k", []byte("old"))
			oldState := snapshot(t, c, testBucket, "k")
			data := testData(200<<10, 2)

			drop := func(key string) {
				t.Helper()
				_, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key),
					Body: readerOnly{&brokenReader{data: data[:50<<10]}}, ContentLength: oss.Ptr(int64(len(data)))})
				if err == nil {
					t.Fatal("an upload whose body failed succeeded")
				}
				waitIdle(t, srv)
			}
			drop("k")
			drop("new")

			// The server cuts the connection itself.
			setFaults(t, srv, Faults{ResetRate: 1, ResetAfterBytes: 30000, Ops: []string{"PutObject", "AppendObject", "UploadPart"}})
			for _, key := range []string{"k", "new"} {
				_, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), Body: bytes.NewReader(data)})
				if err == nil {
					t.Fatal("a reset upload succeeded")
				}
			}
			_, err := c.AppendObject(bg, appendReq("app", 0, data, nil))
			if err == nil {
				t.Fatal("a reset append succeeded")
			}
			id := initiate(t, c, "mp")
			_, err = c.UploadPart(bg, &oss.UploadPartRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp"), UploadId: oss.Ptr(id), PartNumber: 1, Body: bytes.NewReader(data)})
			if err == nil {
				t.Fatal("a reset part upload succeeded")
			}
			waitIdle(t, srv)
			setFaults(t, srv, Faults{})

			if got := snapshot(t, c, testBucket, "k"); fmt.Sprint(got) != fmt.Sprint(oldState) {
				t.Fatalf("old object changed: %+v", got)
			}
			for _, key := range []string{"new", "app"} {
				_, err := c.HeadObject(bg, &oss.HeadObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key)})
				wantServiceError(t, err, 404, "NoSuchKey")
			}
			if got := listAll(t, c, testBucket); strings.Join(got, ",") != "k" {
				t.Fatalf("listing: %v", got)
			}
			lp, err := c.ListParts(bg, &oss.ListPartsRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("mp"), UploadId: oss.Ptr(id)})
			if err != nil || len(lp.Parts) != 0 {
				t.Fatalf("parts after a dropped part upload: %v %+v", err, lp)
			}
			if st := srv.SettledStats(); st.Objects != 1 || st.StoredBytes != 3 {
				t.Fatalf("stats: %+v", st)
			}
			if dir != "" {
				if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
					t.Fatalf("tmp holds %d files", len(entries))
				}
				entries, _ := os.ReadDir(filepath.Join(dir, "buckets", testBucket))
				if len(entries) != 2 {
					t.Fatalf("bucket directory holds %d files", len(entries))
				}
				// And a restart agrees.
				_, c2, _ := startDir(t, dir)
				if got := listAll(t, c2, testBucket); strings.Join(got, ",") != "k" {
					t.Fatalf("listing after restart: %v", got)
				}
				if got := mustGet(t, c2, testBucket, "k"); string(got) != "old" {
					t.Fatalf("old object after restart: %q", got)
				}
			}
		})
	}
}

// TestConcurrentOverwrites writes one key from many clients at once: every
// read must see one whole version (body, ETag and CRC agreeing), in memory,
// on disk and after a restart.
func TestConcurrentOverwrites(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"memory", "dir"} {
		t.Run(store, func(t *testing.T) {
			dir := ""
			if store == "dir" {
				dir = t.TempDir()
			}
			_, u := newTestServer(t, func(o *Options) { o.DataDir = dir })
			c := newClient(u, noRetry)
			versions := map[string]bool{}
			var datas [][]byte
			for i := 0; i < 6; i++ {
				d := testData(20<<10+i*1000, uint64(100+i))
				sum := md5.Sum(d)
				versions[strings.ToUpper(hex.EncodeToString(sum[:]))] = true
				datas = append(datas, d)
			}
			check := func(c *oss.Client) {
				res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("hot")})
				if err != nil {
					var se *oss.ServiceError
					if errors.As(err, &se) && se.Code == "NoSuchKey" {
						return
					}
					t.Error(err)
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				sum := md5.Sum(b)
				etag := strings.Trim(oss.ToString(res.ETag), `"`)
				if err != nil || etag != strings.ToUpper(hex.EncodeToString(sum[:])) || !versions[etag] ||
					oss.ToString(res.HashCRC64) != strconv.FormatUint(crcOf(b), 10) || res.ContentLength != int64(len(b)) {
					t.Errorf("inconsistent read: %d bytes, ETag %s, CRC %s, err %v", len(b), etag, oss.ToString(res.HashCRC64), err)
				}
			}
			var wg sync.WaitGroup
			for w := 0; w < len(datas); w++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for i := 0; i < 15; i++ {
						if _, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("hot"), Body: bytes.NewReader(datas[w])}); err != nil {
							t.Error(err)
						}
					}
				}()
				go func() {
					defer wg.Done()
					for i := 0; i < 15; i++ {
						check(c)
					}
				}()
			}
			wg.Wait()
			check(c)
			if dir != "" {
				_, c2, _ := startDir(t, dir)
				check(c2)
				var names []string
				entries, _ := os.ReadDir(filepath.Join(dir, "buckets", testBucket))
				for _, e := range entries {
					names = append(names, e.Name())
				}
				sort.Strings(names)
				if len(names) != 2 {
					t.Fatalf("bucket directory: %v", names)
				}
			}
		})
	}
}
