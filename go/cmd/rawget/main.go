// Command rawget is the "raw limit" reference of the benchmarks: the Go
// core's concurrent GET loop with no Python. It lists a prefix once, then
// fetches every object with the core's prefetcher at a given concurrency and
// prints one JSON line of results.
//
//	rawget --endpoint URL --cred-path F --region R --bucket B --prefix P --concurrency 24
//	rawget --emulate --objects 2000 --size 102400 --latency-ms 30   # self-contained, in-process server
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"osstorchconnector/go/connector"
	"osstorchconnector/go/ossemu"
)

type result struct {
	Objects     int     `json:"objects"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	ObjectsPerS float64 `json:"objects_per_s"`
	MiBPerS     float64 `json:"mib_per_s"`
	Concurrency int     `json:"concurrency"`
	Passes      int     `json:"passes"`
	Errors      int     `json:"errors"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rawget:", err)
		os.Exit(1)
	}
}

func run() error {
	var o connector.Options
	flag.StringVar(&o.Endpoint, "endpoint", "", "OSS endpoint")
	flag.StringVar(&o.CredPath, "cred-path", "", "credentials file (upstream's JSON)")
	flag.StringVar(&o.Region, "region", "", "region")
	flag.StringVar(&o.ConfigPath, "config-path", "", "config.json")
	bucket := flag.String("bucket", "bench", "bucket")
	prefix := flag.String("prefix", "", "prefix to read")
	conc := flag.Int("concurrency", 24, "requests in flight")
	passes := flag.Int("passes", 1, "how many times to read everything")
	emulate := flag.Bool("emulate", false, "start an in-process local OSS server with generated objects")
	objects := flag.Int("objects", 2000, "with --emulate: number of objects")
	size := flag.Int("size", 100<<10, "with --emulate: object size in bytes")
	latency := flag.Int("latency-ms", 0, "with --emulate: first-byte latency")
	flag.Parse()

	if *emulate {
		srv, err := ossemu.New(ossemu.Options{Region: "cn-hangzhou", AccessKeyID: "rawget", AccessKeySecret: "rawget-secret", Buckets: []string{*bucket}})
		if err != nil {
			return err
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		dir, err := os.MkdirTemp("", "rawget")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.CredPath = filepath.Join(dir, "cred.json")
		os.WriteFile(o.CredPath, []byte(`{"AccessKeyId":"rawget","AccessKeySecret":"rawget-secret"}`), 0o600)
		o.Endpoint, o.Region = ts.URL, "cn-hangzhou"
		c, err := connector.NewClient(o)
		if err != nil {
			return err
		}
		data := make([]byte, *size)
		rand.Read(data)
		for i := 0; i < *objects; i++ {
			if err := c.Put(context.Background(), *bucket, fmt.Sprintf("%sobj-%07d", *prefix, i), data); err != nil {
				return err
			}
		}
		srv.SetFaults(ossemu.Faults{LatencyMs: *latency})
	}
	c, err := connector.NewClient(o)
	if err != nil {
		return err
	}
	var items []connector.Item
	if err := c.List(context.Background(), *bucket, *prefix, func(oi connector.ObjectInfo) error {
		items = append(items, connector.Item{Bucket: *bucket, Key: oi.Key, Size: oi.Size})
		return nil
	}); err != nil {
		return err
	}
	res := result{Concurrency: *conc, Passes: *passes}
	start := time.Now()
	for p := 0; p < *passes; p++ {
		pf, err := c.Prefetch(context.Background(), connector.PrefetchOptions{Items: items, Concurrency: *conc})
		if err != nil {
			return err
		}
		for {
			r, ok := pf.Next()
			if !ok {
				break
			}
			if r.Err != nil {
				res.Errors++
				continue
			}
			res.Objects++
			res.Bytes += int64(len(r.Data))
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.ObjectsPerS = float64(res.Objects) / res.Seconds
	res.MiBPerS = float64(res.Bytes) / res.Seconds / (1 << 20)
	return json.NewEncoder(os.Stdout).Encode(res)
}
