package connector

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"osstorchconnector/go/ossemu"
)

// BenchmarkList lists LIST_BENCH_KEYS (default 100,000) keys laid out like a
// dataset (dir/number, 1,000 per directory), sequentially and with FastList.
// Client CPU per key is easiest to see with -cpuprofile and the server's
// share filtered out (its frames are in package ossemu).
func BenchmarkList(b *testing.B) {
	n := 100_000
	if s := os.Getenv("LIST_BENCH_KEYS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	srv, err := ossemu.New(ossemu.Options{Region: tRegion, AccessKeyID: tAK, AccessKeySecret: tSK, Buckets: []string{tBucket}, Admin: true})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	res, err := http.Post(fmt.Sprintf("%s/_ossemu/fill?bucket=%s&count=%d&key_format=ds/%%04d/%%08d&per_dir=1000&size=16", ts.URL, tBucket, n), "", nil)
	if err != nil || res.StatusCode != 200 {
		b.Fatal(err, res)
	}
	res.Body.Close()
	dir := b.TempDir()
	cred := filepath.Join(dir, "cred.json")
	if err := os.WriteFile(cred, []byte(fmt.Sprintf(`{"AccessKeyId":%q,"AccessKeySecret":%q}`, tAK, tSK)), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, fast := range []bool{false, true} {
		b.Run(fmt.Sprintf("fast=%v", fast), func(b *testing.B) {
			cp := filepath.Join(dir, fmt.Sprintf("config-%v.json", fast))
			cfg := fmt.Sprintf(`{"logPath":%q,"logLevel":2,"datasetConfig":{"enableFastList":%v,"listConcurrency":16}}`, filepath.Join(dir, "log"), fast)
			if err := os.WriteFile(cp, []byte(cfg), 0o600); err != nil {
				b.Fatal(err)
			}
			c, err := NewClient(Options{Endpoint: ts.URL, Region: tRegion, CredPath: cred, ConfigPath: cp})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				got := 0
				if err := c.List(bg, tBucket, "ds/", func(ObjectInfo) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("listed %d keys, want %d", got, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
		})
	}
}
