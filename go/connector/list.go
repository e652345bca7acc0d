package connector

import (
	"context"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"
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
	r := listRequest{bucket: bucket, prefix: prefix, maxKeys: listPageSize}
	for {
		page, err := c.listObjectsPage(ctx, r)
		if err != nil {
			return wrap("ListObjectsV2", bucket, prefix, err)
		}
		for _, o := range page.Objects {
			if err := fn(o); err != nil {
				return err
			}
		}
		if !page.IsTruncated || page.NextContinuationToken == "" {
			return nil
		}
		r.token = page.NextContinuationToken
	}
}

// FastList lists prefix with up to concurrency requests in flight and calls
// fn for the same keys as List, in key order, once all are in.
//
// OSS lists only forwards from a key, so the key space is cut into ranges,
// each listed page by page by its own worker. Whenever a worker's page comes
// back full and a request slot is free, a splitter looks for a cut in the part
// of that range not yet listed: it bisects (listed, upper bound] at byte-wise
// midpoints, asking for the first key after each candidate (one MaxKeys=1
// request). A candidate with keys above it becomes the cut, and the splitter
// goes on as the worker of the upper part; a candidate with none above it
// lowers the bound. Real key sets use few byte values ("train/000123.jpg"),
// so the plain midpoint of the last key and the end of the range almost
// always lies above every key; without the probes each split would hand out
// an empty range and the listing would stay sequential.
func (c *Client) FastList(ctx context.Context, bucket, prefix string, concurrency int, fn func(ObjectInfo) error) error {
	if concurrency < 2 {
		return c.List(ctx, bucket, prefix, fn)
	}
	l := &fastLister{c: c, bucket: bucket, prefix: prefix}
	l.g, l.ctx = errgroup.WithContext(ctx)
	l.g.SetLimit(concurrency)
	l.g.Go(l.worker(&keyRange{}))
	err := l.g.Wait()
	l.c.log.Debug("FastList", zap.String("bucket", bucket), zap.String("prefix", prefix),
		zap.Int("pages", l.pages), zap.Int("probes", l.probes), zap.Int("splits", l.splits),
		zap.Int("fruitlessSplitters", l.misses), zap.Error(err))
	if err != nil {
		return err
	}
	// Each chunk is one range, in key order, and ranges do not overlap:
	// ordering the chunks by their first key orders every key.
	chunks := l.chunks[:0]
	for _, ch := range l.chunks {
		if len(ch) > 0 {
			chunks = append(chunks, ch)
		}
	}
	sort.Slice(chunks, func(i, j int) bool { return chunks[i][0].Key < chunks[j][0].Key })
	for _, ch := range chunks {
		for _, o := range ch {
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxSplitProbes bounds one splitter's requests: 8 probes narrow one byte
// position; 24 reach three bytes past the listed key, enough for numbered
// keys up to the millions.
const maxSplitProbes = 24

// keyRange is one worker's share: keys > claimed and <= upto ("" = no bound).
// The fields are guarded by fastLister.mu.
type keyRange struct {
	claimed string // the worker has listed (or holds a page of) every key <= claimed
	upto    string // the range's upper end; a splitter lowers it
	hint    string // no key lies above hint in this range ("" = unknown)
	done    bool
	// one splitter at a time per range; a range that twice found no cut is
	// left alone (what is left of it is too small to be worth the probes)
	splitting bool
	misses    int
}

type fastLister struct {
	c              *Client
	bucket, prefix string
	ctx            context.Context
	g              *errgroup.Group

	mu     sync.Mutex
	chunks [][]ObjectInfo
	// what the listing cost, for the log line at the end
	pages, probes, splits, misses int
}

func (l *fastLister) worker(r *keyRange) func() error {
	return func() error {
		l.mu.Lock()
		req := listRequest{bucket: l.bucket, prefix: l.prefix, startAfter: r.claimed, maxKeys: listPageSize}
		l.mu.Unlock()
		var got []ObjectInfo
		defer func() {
			l.mu.Lock()
			r.done = true
			l.chunks = append(l.chunks, got)
			l.mu.Unlock()
		}()
		for {
			page, err := l.c.listObjectsPage(l.ctx, req)
			if err != nil {
				return wrap("ListObjectsV2", l.bucket, l.prefix, err)
			}
			// Claim the page up to the range's bound under the lock a
			// splitter cuts under: a cut is only made above what is claimed.
			l.mu.Lock()
			l.pages++
			n := len(page.Objects)
			if r.upto != "" {
				n = sort.Search(n, func(i int) bool { return page.Objects[i].Key > r.upto })
			}
			if n > 0 {
				r.claimed = page.Objects[n-1].Key
			}
			l.mu.Unlock()
			got = append(got, page.Objects[:n]...)
			if n < len(page.Objects) || !page.IsTruncated || page.NextContinuationToken == "" {
				return nil
			}
			req.token = page.NextContinuationToken
			l.maybeSplit(r)
		}
	}
}

// maybeSplit starts a splitter for r if none runs and a request slot is free;
// it never waits for a slot (every worker waiting would deadlock).
func (l *fastLister) maybeSplit(r *keyRange) {
	l.mu.Lock()
	if r.splitting || r.done || r.misses >= 2 {
		l.mu.Unlock()
		return
	}
	r.splitting = true
	l.mu.Unlock()
	if !l.g.TryGo(l.splitter(r)) {
		l.mu.Lock()
		r.splitting = false
		l.mu.Unlock()
	}
}

func (l *fastLister) splitter(r *keyRange) func() error {
	return func() error {
		l.mu.Lock()
		lo, hi := r.claimed, r.upto
		if r.hint != "" && (hi == "" || r.hint < hi) {
			hi = r.hint
		}
		l.mu.Unlock()
		if hi == "" {
			hi = l.prefix + "\xff" // above every key under prefix (no UTF-8 byte is 0xff)
		}
		for probe := 0; probe < maxSplitProbes; probe++ {
			cut := midpoint(lo, hi)
			if !(lo < cut && cut < hi) {
				break
			}
			next, found, err := l.firstAfter(cut)
			if err != nil {
				l.release(r, false)
				return err
			}
			l.mu.Lock()
			l.probes++
			if r.done {
				r.splitting = false
				l.mu.Unlock()
				return nil
			}
			if !found || (r.upto != "" && next > r.upto) { // nothing in (cut, hi]: look lower
				r.hint = cut
				l.mu.Unlock()
				hi = cut
				continue
			}
			if r.claimed >= cut { // the worker got past the cut meanwhile: look higher
				lo = r.claimed
				l.mu.Unlock()
				continue
			}
			upper := &keyRange{claimed: cut, upto: r.upto, hint: r.hint}
			r.upto, r.hint, r.splitting = cut, "", false
			l.splits++
			l.mu.Unlock()
			return l.worker(upper)() // this goroutine already holds a request slot
		}
		l.release(r, true)
		return nil
	}
}

func (l *fastLister) release(r *keyRange, missed bool) {
	l.mu.Lock()
	r.splitting = false
	if missed {
		r.misses++
		l.misses++
	}
	l.mu.Unlock()
}

// firstAfter returns the first key under the prefix that sorts after key.
func (l *fastLister) firstAfter(key string) (string, bool, error) {
	res, err := l.c.listObjectsPage(l.ctx, listRequest{bucket: l.bucket, prefix: l.prefix, startAfter: key, maxKeys: 1})
	if err != nil {
		return "", false, wrap("ListObjectsV2", l.bucket, l.prefix, err)
	}
	if len(res.Objects) == 0 {
		return "", false, nil
	}
	return res.Objects[0].Key, true, nil
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
