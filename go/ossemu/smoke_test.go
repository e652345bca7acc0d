package ossemu

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

func TestSmokeV4PutGetList(t *testing.T) {
	_, url := newTestServer(t, nil)
	c := newClient(url)
	for _, sig := range []oss.SignatureVersionType{oss.SignatureVersionV4, oss.SignatureVersionV1} {
		c := newClient(url, func(cfg *oss.Config) { cfg.WithSignatureVersion(sig) })
		key := "dir/a b+c~ü.txt"
		if _, err := c.PutObject(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), Body: strings.NewReader("hello world")}); err != nil {
			t.Fatalf("sig %v put: %v", sig, err)
		}
		res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr(key), Range: oss.Ptr("bytes=6-10")})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "world" || res.StatusCode != 206 {
			t.Fatalf("got %q %d", b, res.StatusCode)
		}
		lr, err := c.ListObjectsV2(bg, &oss.ListObjectsV2Request{Bucket: oss.Ptr(testBucket), Prefix: oss.Ptr("dir/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(lr.Contents) != 1 || *lr.Contents[0].Key != key {
			t.Fatalf("list: %+v", lr.Contents)
		}
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 30000)
	up := c.NewUploader(func(o *oss.UploaderOptions) { o.PartSize = 100 * 1024 })
	if _, err := up.UploadFrom(bg, &oss.PutObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("big")}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	res, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("big")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	if !bytes.Equal(got, data) {
		t.Fatal("multipart content differs")
	}
}
