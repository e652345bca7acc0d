package ossemu

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/credentials"
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
