package connector

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

const listPageSize = 1000

// ListOption configures one List call.
type ListOption func(*listOptions)

type listOptions struct {
	concurrently bool
}

// ListConcurrently says that the caller uses the listing only once it is
// whole (a shuffled or resumed epoch), so List lists it as FastList does
// unless config.json sets datasetConfig.enableFastList to false: listing
// concurrently costs a few requests more, and waiting for a sequential
// listing costs the caller one round trip per thousand keys.
func ListConcurrently() ListOption {
	return func(o *listOptions) { o.concurrently = true }
}

// List calls fn for every object under prefix, in key order. With
// datasetConfig.enableFastList (or ListConcurrently) it lists split key
// ranges concurrently (FastList) and calls fn once all of them are in.
func (c *Client) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error, opts ...ListOption) error {
	var o listOptions
	for _, opt := range opts {
		opt(&o)
	}
	fast := c.cfg.DatasetConfig.EnableFastList
	if (fast != nil && *fast) || (fast == nil && o.concurrently) {
		return c.FastList(ctx, bucket, prefix, c.cfg.DatasetConfig.ListConcurrency, fn)
	}
	return c.listSequentially(ctx, bucket, prefix, fn)
}

func (c *Client) listSequentially(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
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
// each listed page by page by its own worker. The first page's keys give the
// first cuts (cutAbove); after that, whenever a worker's page comes
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
		return c.listSequentially(ctx, bucket, prefix, fn)
	}
	l := &fastLister{c: c, bucket: bucket, prefix: prefix, concurrency: concurrency}
	l.g, l.ctx = errgroup.WithContext(ctx)
	l.g.SetLimit(concurrency)
	l.g.Go(l.worker(&keyRange{}))
	err := l.g.Wait()
	l.c.log.Debug("FastList", zap.String("bucket", bucket), zap.String("prefix", prefix),
		zap.Int("pages", l.pages), zap.Int("guessedCuts", l.guesses),
		zap.Int("probes", l.probes), zap.Int("splits", l.splits), zap.Int("fruitlessSplitters", l.misses), zap.Error(err))
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
	concurrency    int
	ctx            context.Context
	g              *errgroup.Group

	mu     sync.Mutex
	chunks [][]ObjectInfo
	// what the listing cost, for the log line at the end
	pages, probes, splits, misses, guesses int
}

func (l *fastLister) worker(r *keyRange) func() error {
	return func() error { return l.listRange(r) }
}

func (l *fastLister) listRange(r *keyRange) error {
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
	for pages := 1; ; pages++ {
		page, err := l.c.listObjectsPage(l.ctx, req)
		if err != nil {
			return wrap("ListObjectsV2", l.bucket, l.prefix, err)
		}
		// Claim the page up to the range's bound under the lock a
		// splitter cuts under: a cut is only made above what is claimed.
		l.mu.Lock()
		l.pages++
		more := page.IsTruncated && page.NextContinuationToken != ""
		if pages == 1 && req.startAfter == "" && more { // the listing's first page
			l.cutAbove(r, page.Objects)
		}
		n := len(page.Objects)
		if r.upto != "" {
			n = sort.Search(n, func(i int) bool { return page.Objects[i].Key > r.upto })
		}
		if n > 0 {
			r.claimed = page.Objects[n-1].Key
		}
		// A range whose bound is a key it has listed is whole: a guessed
		// page boundary that was right saves the request past it.
		reached := r.upto != "" && r.claimed == r.upto
		l.mu.Unlock()
		got = append(got, page.Objects[:n]...)
		if n < len(page.Objects) || !more || reached {
			return nil
		}
		req.token = page.NextContinuationToken
		// A range cut from the first page is usually one page long: split
		// it only once it proves longer (the unbounded last range at once).
		if pages > 1 || r.upto == "" {
			l.maybeSplit(r)
		}
	}
}

// cutAbove cuts what lies above the listing's first page (r, the first
// range) into ranges at the places countedCuts (or, for keys that are not
// counted, cutsAfter) guesses, one per request slot, and starts a worker on
// each. r keeps the part up to the first cut, and the last range started is
// unbounded, so the ranges still cover every key. Called with l.mu held.
//
// The bisecting splitter alone needs several sequential probes before each
// split, so a listing of a few thousand keys would end before it ran in
// parallel. A guess costs no probe; a wrong one costs a request that finds
// its range empty, and a range that ends at a cut that is not one of its
// keys costs one request past its last page (OSS cannot list up to a key).
// Only the first page is cut: cutting the first page of every unbounded
// range again multiplied the requests of a million-key listing (each cut
// reaches a few pages further).
func (l *fastLister) cutAbove(r *keyRange, page []ObjectInfo) {
	cuts := countedCuts(l.prefix, page, l.concurrency-1)
	if cuts == nil {
		cuts = cutsAfter(l.prefix, page, l.concurrency-1)
	}
	if len(cuts) == 0 {
		return
	}
	l.guesses += len(cuts)
	r.upto = cuts[0]
	ranges := make([]*keyRange, len(cuts))
	for i, cut := range cuts {
		ranges[i] = &keyRange{claimed: cut}
		if i+1 < len(cuts) {
			ranges[i].upto = cuts[i+1]
		}
	}
	below := r // the last range started
	for _, rr := range ranges {
		// Every slot but r's is free on the first page; should one not be,
		// the range below takes in what is left rather than wait for a slot
		// while l.mu is held. Its worker reads upto under l.mu, after this.
		if !l.g.TryGo(l.worker(rr)) {
			below.upto = ""
			return
		}
		below = rr
	}
}

// countedCuts guesses the next pages' last keys where the first page's keys
// are consecutive numbers of one width that differ in nothing else
// (img-0000000.jpg ... img-0000999.jpg): the first cut is the page's own last
// key, then the keys one, two, ... pages further, and past half the slots
// the steps double, so a long listing's ranges reach further (the splitter
// divides those that hold more than a page). Where the guesses are right
// each range is one request that ends at its bound, so a listing of a few
// pages is two round trips. nil when the page is not counted that way, or
// its numbers leave no room for another page of them.
func countedCuts(prefix string, page []ObjectInfo, limit int) []string {
	if len(page) < 2 || limit < 1 {
		return nil
	}
	first, last := page[0].Key, page[len(page)-1].Key
	j := partAt(prefix, first, last)
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	if j >= len(first) || j >= len(last) || !isDigit(first[j]) || !isDigit(last[j]) {
		return nil
	}
	a, b := j, j+1 // the run of digits around j in last
	for a > len(prefix) && isDigit(last[a-1]) {
		a--
	}
	for b < len(last) && isDigit(last[b]) {
		b++
	}
	const maxDigits = 18 // fits an int64
	if b-a > maxDigits || len(first) != len(last) || first[b:] != last[b:] {
		return nil
	}
	lo, err1 := strconv.ParseInt(first[a:b], 10, 64)
	hi, err2 := strconv.ParseInt(last[a:b], 10, 64)
	if err1 != nil || err2 != nil || hi-lo+1 != int64(len(page)) {
		return nil
	}
	end := int64(1)
	for i := a; i < b; i++ {
		end *= 10
	}
	cuts := []string{last}
	step, n := int64(len(page)), hi
	for k := 1; len(cuts) < limit; k++ {
		if k > limit/2 {
			step *= 2
		}
		if step >= end-n { // past the width of the numbers (and never overflowing)
			break
		}
		n += step
		cuts = append(cuts, fmt.Sprintf("%s%0*d%s", last[:a], b-a, n, last[b:]))
	}
	if len(cuts) == 1 { // the numbers end with this page: what follows is not counted so
		return nil
	}
	return cuts
}

// partAt is where first and last, two keys under prefix, first differ (the
// shorter one's length if one starts the other).
func partAt(prefix, first, last string) int {
	j := len(prefix)
	for j < len(first) && j < len(last) && first[j] == last[j] {
		j++
	}
	return j
}

// cutsAfter guesses, from a full first page of a listing under prefix, keys
// that cut the rest of the key space into ranges that hold keys: dataset keys
// are mostly counted or hashed names, which vary in a few trailing positions
// over a small alphabet ("train/000123.jpg", "img/3fa9..."). Where the page's
// first and last keys part (position j), the next keys differ from the last
// one at j or before it; for each such position, going up from j while the
// last key's byte is one of the alphabet, the cuts are the last key up to the
// position followed by each larger byte of the alphabet (the bytes seen at
// the three positions from j). In key order, at most limit of them.
func cutsAfter(prefix string, page []ObjectInfo, limit int) []string {
	if len(page) < 2 {
		return nil
	}
	last := page[len(page)-1].Key
	j := partAt(prefix, page[0].Key, last)
	if j >= len(last) {
		return nil
	}
	var alphabet [128]bool
	for _, o := range page {
		for p := j; p < j+3 && p < len(o.Key); p++ {
			if c := o.Key[p]; c < 128 {
				alphabet[c] = true
			}
		}
	}
	var cuts []string
	for p := j; p >= len(prefix) && len(cuts) < limit; p-- {
		if p < j && (last[p] >= 128 || !alphabet[last[p]]) {
			break
		}
		for c := int(last[p]) + 1; c < len(alphabet) && len(cuts) < limit; c++ {
			if alphabet[c] {
				cuts = append(cuts, last[:p]+string([]byte{byte(c)}))
			}
		}
	}
	return cuts
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
