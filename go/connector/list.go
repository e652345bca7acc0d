package connector

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"golang.org/x/sync/errgroup"
)

const listPageSize = 1000

// List calls fn for every object under prefix, in key order. With
// datasetConfig.enableFastList it lists split key ranges concurrently
// (FastList) and calls fn once all of them are in.
func (c *Client) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	if c.cfg.DatasetConfig.EnableFastList {
		return c.FastList(ctx, bucket, prefix, c.cfg.DatasetConfig.ListConcurrency, fn)
	}
	return c.listRange(ctx, bucket, prefix, "", "", false, func(o ObjectInfo, _ bool) (bool, error) { return true, fn(o) }, nil)
}

// listRange lists keys under prefix that are > after and, when upto != "",
// <= upto. fn returns false to stop. onPage, if set, is told the last key of
// every truncated page (FastList uses it to split the rest of the range).
func (c *Client) listRange(ctx context.Context, bucket, prefix, after, upto string, _ bool,
	fn func(ObjectInfo, bool) (bool, error), onPage func(last string) (newUpto string)) error {
	req := &oss.ListObjectsV2Request{Bucket: oss.Ptr(bucket), Prefix: oss.Ptr(prefix), MaxKeys: listPageSize}
	if after != "" {
		req.StartAfter = oss.Ptr(after)
	}
	p := c.oss.NewListObjectsV2Paginator(req)
	for p.HasNext() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wrap("ListObjectsV2", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			k := oss.ToString(o.Key)
			if upto != "" && k > upto {
				return nil
			}
			more, err := fn(ObjectInfo{Key: k, Size: o.Size, ETag: oss.ToString(o.ETag)}, false)
			if err != nil || !more {
				return err
			}
		}
		if page.IsTruncated && onPage != nil && len(page.Contents) > 0 {
			upto = onPage(oss.ToString(page.Contents[len(page.Contents)-1].Key))
		}
	}
	return nil
}

// FastList lists prefix with up to concurrency requests in flight. Each
// worker owns a key range; whenever a worker's page comes back full and a
// request slot is free, it hands the upper half of its remaining range
// (split at the byte-wise midpoint) to a new worker. Dense ranges thus split
// until every slot is busy; empty halves cost one request. The same keys as
// List are returned, in key order.
func (c *Client) FastList(ctx context.Context, bucket, prefix string, concurrency int, fn func(ObjectInfo) error) error {
	if concurrency < 2 {
		return c.listRange(ctx, bucket, prefix, "", "", false, func(o ObjectInfo, _ bool) (bool, error) { return true, fn(o) }, nil)
	}
	var (
		mu     sync.Mutex
		chunks [][]ObjectInfo
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	ceiling := prefix + "\xff" // above every key under prefix (no UTF-8 byte is 0xff)
	var worker func(after, upto string) func() error
	worker = func(after, upto string) func() error {
		return func() error {
			var got []ObjectInfo
			err := c.listRange(gctx, bucket, prefix, after, upto, false, func(o ObjectInfo, _ bool) (bool, error) {
				got = append(got, o)
				return true, nil
			}, func(last string) string {
				hi := upto
				if hi == "" {
					hi = ceiling
				}
				mid := midpoint(last, hi)
				// Hand (mid, upto] to a new worker if a request slot is free;
				// never wait for one (all workers waiting would deadlock).
				if mid > last && mid < hi && g.TryGo(worker(mid, upto)) {
					return mid
				}
				return upto
			})
			mu.Lock()
			chunks = append(chunks, got)
			mu.Unlock()
			return err
		}
	}
	g.Go(worker("", ""))
	if err := g.Wait(); err != nil {
		return err
	}
	var all []ObjectInfo
	for _, ch := range chunks {
		all = append(all, ch...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Key < all[j].Key })
	for _, o := range all {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// midpoint returns a string between a and b (a < b) in byte order, as if both
// were base-256 fractions, trimmed of trailing zero bytes.
func midpoint(a, b string) string {
	n := max(len(a), len(b)) + 1
	x := make([]int, n)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		if i < len(a) {
			x[i] = int(a[i])
		}
		if i < len(b) {
			y[i] = int(b[i])
		}
	}
	// sum = x + y, then halve
	sum := make([]int, n+1)
	carry := 0
	for i := n - 1; i >= 0; i-- {
		s := x[i] + y[i] + carry
		sum[i+1] = s % 256
		carry = s / 256
	}
	sum[0] = carry
	out := make([]byte, n)
	rem := 0
	for i := 0; i <= n; i++ {
		v := rem*256 + sum[i]
		if i > 0 {
			out[i-1] = byte(v / 2)
		}
		rem = v % 2
	}
	return strings.TrimRight(string(out), "\x00")
}
