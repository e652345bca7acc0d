package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"golang.org/x/sync/errgroup"

	"osstorchconnector/go/fastcrc"
)

// Reader is a random-access reader of one object (checkpoints, safetensors):
// io.ReaderAt, io.ReadSeeker. Large reads are split into ranged GETs of at
// most readChunkSize, fetched in parallel straight into the caller's buffer;
// small reads go through a small cache, and sequential access reads ahead.
//
// No byte leaves the reader unchecked where a checksum exists to check it
// against. The object is cut into units, each fetched whole and CRC-64
// checked before any of its bytes are handed out:
//   - an object no larger than the cache is one unit, checked against the
//     object's CRC-64 (x-oss-hash-crc64ecma);
//   - an object with a matching part checksum file (partcrc.go) has a unit
//     per part, checked against the part's CRC-64 (parts larger than the
//     reader's prefetchConcurrency x readChunkSize are cut like the next case);
//   - otherwise units are readChunkSize chunks with nothing to check them
//     against one by one (OSS has no checksum of a range): their CRCs are
//     combined once all have been read and must equal the object's, or that
//     read and every later one fail with ErrIntegrity.
//
// A unit that fails its check is fetched again once, then the read fails
// with ErrIntegrity. Safe for concurrent ReadAt calls; Read and Seek share
// one position.
type Reader struct {
	c         *Client
	ctx       context.Context
	cancel    context.CancelFunc
	bucket    string
	key       string
	size      int64
	etag      string
	crc       uint64
	hasCRC    bool
	piece     int64         // the largest ranged GET (readChunkSize)
	conc      int           // ranged GETs in flight
	slots     chan struct{} // one per ranged GET in flight
	units     []unit        // the object, cut into checked units, in order
	budget    int64         // bytes the cache may hold (at least one unit)
	unchecked int           // units without a known CRC

	mu       sync.Mutex
	cache    map[int]*unitEntry
	order    []int          // cache insertion order, for eviction
	held     int64          // bytes of the units in the cache
	crcs     map[int]uint64 // unchecked unit -> CRC of its first read, for the combined check
	verified bool
	err      error // sticky integrity error (the combined check)
	pos      int64
	lastEnd  int64
	closed   bool
}

// unit is a range of the object that is fetched and checked as a whole.
type unit struct {
	off, size int64
	crc       uint64
	known     bool // crc is known before reading: every fetch is checked
}

type unitEntry struct {
	done chan struct{}
	data []byte
	err  error
}

// OpenReader stats the object and returns a reader over it.
func (c *Client) OpenReader(ctx context.Context, bucket, key string) (*Reader, error) {
	ctx, cancel := context.WithCancel(ctxOr(ctx))
	res, err := c.oss.HeadObject(ctx, &oss.HeadObjectRequest{Bucket: oss.Ptr(bucket), Key: oss.Ptr(key)})
	if err != nil {
		cancel()
		return nil, wrap("HeadObject", bucket, key, err)
	}
	conc := c.cfg.CheckpointConfig.PrefetchConcurrency
	r := &Reader{c: c, ctx: ctx, cancel: cancel, bucket: bucket, key: key, size: res.ContentLength,
		etag: oss.ToString(res.ETag), piece: c.cfg.ReadChunkSize, conc: conc, slots: make(chan struct{}, conc),
		cache: map[int]*unitEntry{}, crcs: map[int]uint64{}, lastEnd: -1}
	// The cache holds partly read units and the read-ahead window (half of
	// it): sixteen chunks' worth (more for large parts, see cut), so that
	// eight chunks are in flight ahead of a sequential reader such as
	// torch.load. Whole units go straight into the caller's buffer, and
	// units evicted while in flight, and their garbage, come on top: a cache
	// of prefetchConcurrency chunks took the reader past the
	// prefetchConcurrency x readChunkSize it may use.
	r.budget = int64(max(2, min(conc, 16))) * r.piece
	if res.HashCRC64 != nil {
		if v, perr := strconv.ParseUint(*res.HashCRC64, 10, 64); perr == nil {
			r.crc, r.hasCRC = v, true
		}
	}
	r.units = r.cut(ctx, oss.ToString(res.ObjectType) == "Multipart")
	for _, u := range r.units {
		if !u.known {
			r.unchecked++
		}
	}
	return r, nil
}

// cut divides the object into units (see Reader), and sizes the cache.
func (r *Reader) cut(ctx context.Context, multipart bool) []unit {
	if r.size == 0 {
		return nil
	}
	// An object of up to eight chunks is fetched whole and checked against
	// its own CRC-64 even for a small read; a larger one is read in units.
	if r.hasCRC && r.size <= int64(max(2, min(r.conc, 8)))*r.piece {
		return []unit{{0, r.size, r.crc, true}}
	}
	var parts []partSum
	if r.hasCRC && multipart { // only a multipart upload has a part checksum file
		parts = r.c.readPartChecksums(ctx, r.bucket, r.key, r.size, r.crc)
	}
	if parts == nil {
		return r.chunks(nil, 0, r.size)
	}
	// The cache must hold two units, the one being read and the next, or
	// read-ahead and reads would keep evicting each other: it grows for
	// large parts up to prefetchConcurrency x readChunkSize, the reader's
	// bound, and parts larger than half that are cut into chunks.
	largest := int64(0)
	for _, p := range parts {
		largest = max(largest, p.size)
	}
	r.budget = max(r.budget, min(2*largest, int64(r.conc)*r.piece))
	maxUnit := r.budget / 2
	var units []unit
	off := int64(0)
	for _, p := range parts {
		if p.size <= maxUnit {
			units = append(units, unit{off, p.size, p.crc, true})
		} else {
			units = r.chunks(units, off, p.size) // too large to hold: checked with the rest
		}
		off += p.size
	}
	return units
}

// chunks appends unchecked readChunkSize units covering [off, off+n).
func (r *Reader) chunks(units []unit, off, n int64) []unit {
	for end := off + n; off < end; off += r.piece {
		units = append(units, unit{off: off, size: min(r.piece, end-off)})
	}
	return units
}

// Size is the object's size.
func (r *Reader) Size() int64 { return r.size }

// unitAt is the index of the unit holding byte off (< size).
func (r *Reader) unitAt(off int64) int {
	return sort.Search(len(r.units), func(i int) bool { return r.units[i].off+r.units[i].size > off })
}

// fetchUnit reads unit i into dst (len = its size) and checks it.
func (r *Reader) fetchUnit(i int, dst []byte) error {
	u := r.units[i]
	for attempt := 1; ; attempt++ {
		sum, err := r.fetchRange(u.off, dst)
		if err != nil {
			return err
		}
		if !u.known {
			return r.recordCRC(i, sum)
		}
		if sum == u.crc {
			return nil
		}
		err = wrap("GetObject", r.bucket, r.key, fmt.Errorf("%w: bytes %d-%d have crc64 %d, want %d",
			ErrIntegrity, u.off, u.off+u.size-1, sum, u.crc))
		if attempt == 2 {
			return err
		}
		r.c.log.Warn("CRC mismatch, reading again", zapKey(r.bucket, r.key), zapErr(err))
	}
}

// fetchRange reads len(dst) bytes at off with ranged GETs of at most piece
// bytes, in parallel, and returns their CRC-64 (one pass once all are in).
func (r *Reader) fetchRange(off int64, dst []byte) (uint64, error) {
	n := (int64(len(dst)) + r.piece - 1) / r.piece
	g, gctx := errgroup.WithContext(r.ctx) // a failed range stops its siblings
	for k := range n {
		p := dst[k*r.piece : min((k+1)*r.piece, int64(len(dst)))]
		g.Go(func() error {
			select {
			case r.slots <- struct{}{}:
			case <-gctx.Done():
				return context.Cause(gctx)
			}
			defer func() { <-r.slots }()
			_, _, err := r.c.read(gctx, r.bucket, r.key, off+k*r.piece, int64(len(p)), p, r.etag)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return fastcrc.Checksum(dst), nil
}

// recordCRC keeps the CRC of a unit without a known one for the combined
// check, which runs once every such unit has been read (the others have
// their known CRC: they were checked against it).
func (r *Reader) recordCRC(i int, sum uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, seen := r.crcs[i]; seen {
		// A unit read twice must read the same: if not, one copy was corrupt
		// and the first may already be with the caller, so keeping either sum
		// could let the combined check pass over bytes already handed out.
		if prev != sum && r.err == nil {
			r.err = wrap("GetObject", r.bucket, r.key, fmt.Errorf("%w: bytes %d-%d read twice with different crc64 (%d, %d)",
				ErrIntegrity, r.units[i].off, r.units[i].off+r.units[i].size-1, prev, sum))
		}
		return r.err
	}
	r.crcs[i] = sum
	if r.verified || !r.hasCRC || len(r.crcs) < r.unchecked {
		return r.err
	}
	r.verified = true
	var total uint64
	for j, u := range r.units {
		c := u.crc
		if !u.known {
			c = r.crcs[j]
		}
		total = fastcrc.Combine(total, c, u.size)
	}
	if total != r.crc {
		r.err = wrap("GetObject", r.bucket, r.key, fmt.Errorf("%w: combined crc64 %d, server says %d", ErrIntegrity, total, r.crc))
	}
	return r.err
}

// cached returns unit i through the cache, starting its fetch if needed.
func (r *Reader) cached(i int) *unitEntry {
	r.mu.Lock()
	e := r.cache[i]
	if e == nil {
		r.evictLocked(r.units[i].size, -1)
		e = r.startLocked(i)
	}
	r.mu.Unlock()
	<-e.done
	return e
}

func (r *Reader) startLocked(i int) *unitEntry {
	e := &unitEntry{done: make(chan struct{})}
	r.cache[i] = e
	r.order = append(r.order, i)
	r.held += r.units[i].size
	go func() {
		defer close(e.done)
		buf := make([]byte, r.units[i].size)
		if err := r.fetchUnit(i, buf); err != nil {
			e.err = err
			r.forget(i, e) // the reads waiting get the error; a later read tries again
			return
		}
		e.data = buf
	}()
	return e
}

// forget drops a failed entry from the cache.
func (r *Reader) forget(i int, e *unitEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache[i] != e {
		return
	}
	delete(r.cache, i)
	r.held -= r.units[i].size
	for k, j := range r.order {
		if j == i {
			r.order = append(r.order[:k], r.order[k+1:]...)
			break
		}
	}
}

// evictLocked drops the oldest cached units, except unit keep and those
// after it, until need more bytes fit in the budget (or nothing else can go).
// Readers holding a dropped unit keep their copy.
func (r *Reader) evictLocked(need int64, keep int) {
	kept := r.order[:0]
	for _, j := range r.order {
		if r.held+need > r.budget && (keep < 0 || j < keep) {
			r.held -= r.units[j].size
			delete(r.cache, j)
			continue
		}
		kept = append(kept, j)
	}
	r.order = kept
}

// readahead starts fetching the units after last that are not cached yet,
// up to half the cache, so that what the next reads need is in flight or in
// while the other half still holds units being copied out. It only evicts
// units before first, the first unit of the read that asked: evicting one
// that read is still copying from would have it fetched again, and evict
// the read-ahead in turn.
func (r *Reader) readahead(first, last int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ahead := int64(0)
	for j := last + 1; j < len(r.units) && ahead < r.budget/2; j++ {
		ahead += r.units[j].size
		if r.cache[j] == nil {
			// room from units before the read (done with); never from its units or later
			if r.evictLocked(r.units[j].size, first); r.held+r.units[j].size > r.budget {
				return
			}
			r.startLocked(j)
		}
	}
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, invalidf("negative offset %d", off)
	}
	r.mu.Lock()
	closed, sticky := r.closed, r.err
	r.mu.Unlock()
	if closed {
		return 0, invalidf("reader is closed")
	}
	if sticky != nil {
		return 0, sticky
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	first, last := r.unitAt(off), r.unitAt(off+n-1)
	g, _ := errgroup.WithContext(r.ctx)
	g.SetLimit(r.conc)
	for i := first; i <= last; i++ {
		cs, ce := r.units[i].off, r.units[i].off+r.units[i].size
		lo, hi := max(cs, off), min(ce, off+n)
		dst := p[lo-off : hi-off]
		r.mu.Lock()
		_, inCache := r.cache[i] // read ahead already: copy it from there
		r.mu.Unlock()
		if lo == cs && hi == ce && !inCache { // the caller's buffer holds the whole unit: fetch straight into it
			g.Go(func() error { return r.fetchUnit(i, dst) })
			continue
		}
		g.Go(func() error {
			e := r.cached(i)
			if e.err != nil {
				return e.err
			}
			copy(dst, e.data[lo-cs:hi-cs])
			return nil
		})
	}
	r.mu.Lock()
	// A read that continues the previous one, or skips ahead less than a
	// chunk: torch.load reads each record's zip header, then its data a few
	// bytes further on.
	sequential := r.lastEnd >= 0 && off >= r.lastEnd && off-r.lastEnd < r.piece
	r.lastEnd = off + n
	r.mu.Unlock()
	if sequential && last+1 < len(r.units) {
		r.readahead(first, last)
	}
	if err := g.Wait(); err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			err = wrap("GetObject", r.bucket, r.key, err)
		}
		return 0, err
	}
	if int64(len(p)) > n {
		return int(n), io.EOF
	}
	return int(n), nil
}

// Read implements io.Reader at the reader's position.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	pos := r.pos
	r.mu.Unlock()
	n, err := r.ReadAt(p, pos)
	r.mu.Lock()
	r.pos = pos + int64(n)
	r.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return r.pos, invalidf("invalid whence %d", whence)
	}
	if abs < 0 {
		return r.pos, invalidf("negative position %d", abs)
	}
	r.pos = abs
	return abs, nil
}

// Close cancels reads in flight and drops the cache.
func (r *Reader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.cache, r.order, r.held = map[int]*unitEntry{}, nil, 0
	r.mu.Unlock()
	r.cancel()
	return nil
}
