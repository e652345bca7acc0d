package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"sync"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"golang.org/x/sync/errgroup"

	"osstorchconnector/go/fastcrc"
)

// OSS limits on multipart uploads.
const (
	MaxParts      = 10000
	MinPartSize   = 1 << 20 // OSS allows 100 KiB; below 1 MiB the growth rule cannot reach MaxObjectSize
	MaxPartSize   = 5 << 30
	MaxObjectSize = 48_800_000_000_000 // "48.8 TB"
	// growthDivisor: once past the first parts, a part is 1/growthDivisor
	// of what was written before it, so an object of unknown size can reach
	// MaxObjectSize within MaxParts (see PartSize).
	growthDivisor = 100
)

// PartSize is the size of part n (1-based) after written bytes, for a
// stream of unknown length: base until written reaches growthDivisor*base,
// then written/growthDivisor, rounded up to a multiple of base and capped at
// MaxPartSize. The first parts stay small (memory), and any object up to
// MaxObjectSize still fits in MaxParts parts (a unit test checks it). With a
// size hint the part size is fixed: hint/MaxParts rounded up to a multiple
// of base. Multiples of base because the Writer holds parts in base-sized
// buffers (slabs): a part of any other size would leave one partly empty.
func PartSize(base, written, hint int64) int64 {
	base = max(base, MinPartSize)
	if hint > 0 {
		return min(max(base, roundUp((hint+MaxParts-1)/MaxParts, base)), MaxPartSize)
	}
	return min(max(base, roundUp(written/growthDivisor, base)), MaxPartSize)
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// WriterOptions tune a Writer; zero values take the client's configuration.
type WriterOptions struct {
	PartSize    int64 // first part size (config partSize)
	Concurrency int   // parts in flight (config checkpointConfig.uploadConcurrency)
	SizeHint    int64 // expected total size, if known
	// Exclusive: the object is created only where no object has the key
	// (OSS's x-oss-forbid-overwrite on the PUT, or on the initiate and the
	// complete of a multipart upload); otherwise Close fails with code
	// FileAlreadyExists and the object already there is left as it was.
	Exclusive bool
}

// writerState is where a Writer is in its life: open until Close or Abort,
// and never open again.
type writerState int

const (
	stateOpen    writerState = iota // taking writes
	stateClosed                     // Close ran (committed, or failed and aborted)
	stateAborted                    // Abort ran: nothing became visible
)

// Writer streams an object to OSS. Small objects are sent with one PUT at
// Close; larger ones as a multipart upload with up to Concurrency parts in
// flight. Parts are held in slabs, buffers of the first part size, which a
// part gives back once uploaded for the next ones to reuse: grown parts
// take several, so they never leave buffers too small to reuse as garbage.
// Every slab the writer holds (of the part being filled, of those in
// flight, idle ones) counts against one byte budget, Concurrency x the
// first part size: when parts grow, fewer run at once, and memory stays
// within the budget (or one part, if a single part is larger). Write blocks
// while the budget is spent. Nothing is visible until Close succeeds; on
// any error, or Abort, the upload is aborted.
type Writer struct {
	c        *Client
	ctx      context.Context
	cancel   context.CancelFunc
	bucket   string
	key      string
	base     int64
	hint     int64
	conc     int
	excl     bool     // WriterOptions.Exclusive
	cur      [][]byte // the part being filled: full slabs, then the one being filled
	curLen   int64    // bytes in cur
	written  int64    // bytes handed to parts so far
	partNo   int32
	uploadID string
	g        *errgroup.Group
	gctx     context.Context
	capacity int64 // the byte budget for part buffers

	mu       sync.Mutex
	freed    *sync.Cond // signalled when slabs come back or the writer fails
	held     int64      // bytes of every slab allocated and not dropped
	peak     int64      // the most held at once (tests)
	allocs   int        // slabs allocated (tests)
	free     [][]byte   // slabs of uploaded parts, for reuse
	inFlight int        // parts being uploaded
	parts    []oss.UploadPart
	sums     map[int32]partSum // part number -> its size and CRC-64
	state    writerState
	err      error
}

// NewWriter starts a writer; no request is made until the first part fills
// or Close.
func (c *Client) NewWriter(ctx context.Context, bucket, key string, o WriterOptions) (*Writer, error) {
	if bucket == "" || key == "" {
		return nil, invalidf("bucket and key must be non-empty")
	}
	if o.PartSize <= 0 {
		o.PartSize = c.cfg.PartSize
	}
	if o.PartSize < MinPartSize || o.PartSize > MaxPartSize {
		return nil, invalidf("part size must be between %d and %d bytes, got %d", MinPartSize, MaxPartSize, o.PartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = c.cfg.CheckpointConfig.UploadConcurrency
	}
	ctx, cancel := context.WithCancel(ctxOr(ctx))
	g, gctx := errgroup.WithContext(ctx)
	w := &Writer{c: c, ctx: ctx, cancel: cancel, bucket: bucket, key: key, base: o.PartSize, hint: o.SizeHint,
		conc: o.Concurrency, excl: o.Exclusive, g: g, gctx: gctx, capacity: int64(o.Concurrency) * o.PartSize, sums: map[int32]partSum{}}
	w.freed = sync.NewCond(&w.mu)
	context.AfterFunc(gctx, func() { // a failed part or a cancel: wake a Write waiting for a buffer
		w.mu.Lock()
		w.freed.Broadcast()
		w.mu.Unlock()
	})
	writerOpened(w.capacity)
	return w, nil
}

// While writers are open the garbage collector runs at GOGC=25 instead of
// the default 100, and under a soft memory limit of what the process held
// when the first writer opened plus the writers' budgets (and an eighth for
// the runtime): their part buffers are most of the live heap, and buffers
// dropped as parts grow are garbage that would otherwise sit in the heap,
// and in the RSS, until the next collection, well beyond the budget. GOGC
// or GOMEMLIMIT set in the environment, or a limit the program set, are
// left alone.
var (
	openWritersMu  sync.Mutex
	openWriters    int
	openBudget     int64
	savedGCPct           = -2
	savedMemLimit  int64 = -2
	memoryBaseline int64
)

func writerOpened(budget int64) {
	openWritersMu.Lock()
	defer openWritersMu.Unlock()
	openWriters++
	openBudget += budget
	if openWriters == 1 {
		if os.Getenv("GOGC") == "" {
			savedGCPct = debug.SetGCPercent(25)
		}
		if os.Getenv("GOMEMLIMIT") == "" {
			if cur := debug.SetMemoryLimit(-1); cur == math.MaxInt64 {
				savedMemLimit, memoryBaseline = cur, goMemoryInUse()
			}
		}
	}
	setWriterMemoryLimit()
}

func writerClosed(budget int64) {
	openWritersMu.Lock()
	defer openWritersMu.Unlock()
	openWriters--
	openBudget -= budget
	if openWriters > 0 {
		setWriterMemoryLimit()
		return
	}
	if savedGCPct != -2 {
		debug.SetGCPercent(savedGCPct)
		savedGCPct = -2
	}
	if savedMemLimit != -2 {
		debug.SetMemoryLimit(savedMemLimit)
		savedMemLimit = -2
	}
}

func setWriterMemoryLimit() {
	if savedMemLimit != -2 {
		debug.SetMemoryLimit(memoryBaseline + openBudget + openBudget/32 + 16<<20)
	}
}

// goMemoryInUse is the memory the Go runtime holds from the OS (what its
// memory limit counts).
func goMemoryInUse() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}

func (w *Writer) partSize() int64 { return PartSize(w.base, w.written, w.hint) }

// newSlab returns an empty slab for the part being filled: one an uploaded
// part gave back, else a new one once the budget has room (waiting for
// uploads to finish). With no upload in flight there is nothing to wait for:
// a single part larger than the budget gets its slabs anyway.
func (w *Writer) newSlab() ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.err != nil {
			return nil, w.err
		}
		if err := context.Cause(w.gctx); err != nil {
			return nil, err
		}
		if n := len(w.free); n > 0 {
			b := w.free[n-1]
			w.free[n-1] = nil
			w.free = w.free[:n-1]
			return b[:0], nil
		}
		if w.held+w.base <= w.slabBudget() || w.inFlight == 0 {
			w.held += w.base
			w.peak = max(w.peak, w.held)
			w.allocs++
			return make([]byte, 0, w.base), nil
		}
		w.freed.Wait()
	}
}

// slabBudget is what the slabs may hold: the budget less one slab, which
// is left to the rest of the writer's memory (connections, requests in
// flight, the runtime's own), so that the writer as a whole stays within the
// budget; with a budget of one slab, that slab.
func (w *Writer) slabBudget() int64 { return max(w.base, w.capacity-w.base) }

// giveBack returns an uploaded part's slabs for reuse, or drops them from
// the budget when they may still be read (an abandoned attempt of its upload).
func (w *Writer) giveBack(slabs [][]byte, reusable bool) {
	w.mu.Lock()
	w.inFlight--
	if reusable {
		w.free = append(w.free, slabs...)
	} else {
		w.held -= int64(len(slabs)) * w.base
	}
	w.freed.Broadcast()
	w.mu.Unlock()
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case stateClosed:
		return invalidf("write to a closed writer")
	case stateAborted:
		return invalidf("write to an aborted writer")
	}
	return w.err
}

func (w *Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.freed.Broadcast()
	w.mu.Unlock()
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		room := w.partSize() - w.curLen
		if room <= 0 {
			if err := w.flushPart(); err != nil {
				return n, err
			}
			continue
		}
		last := len(w.cur) - 1
		if last < 0 || len(w.cur[last]) == cap(w.cur[last]) {
			slab, err := w.newSlab() // backpressure: waits while the budget is spent
			if err != nil {
				return n, w.failedOr(err)
			}
			w.cur, last = append(w.cur, slab), last+1
		}
		k := int(min(room, int64(cap(w.cur[last])-len(w.cur[last])), int64(len(p))))
		w.cur[last] = append(w.cur[last], p[:k]...)
		w.curLen += int64(k)
		p, n = p[k:], n+k
	}
	return n, nil
}

// flushPart hands the part being filled to an upload goroutine.
func (w *Writer) flushPart() error {
	if w.uploadID == "" {
		res, err := w.c.oss.InitiateMultipartUpload(w.ctx, &oss.InitiateMultipartUploadRequest{Bucket: oss.Ptr(w.bucket), Key: oss.Ptr(w.key),
			ForbidOverwrite: forbidOverwrite(w.excl)})
		if err != nil {
			err = wrap("InitiateMultipartUpload", w.bucket, w.key, err)
			w.setErr(err)
			return err
		}
		w.uploadID = oss.ToString(res.UploadId)
	}
	if w.partNo >= MaxParts {
		err := invalidf("object exceeds %d parts", MaxParts)
		w.setErr(err)
		return err
	}
	w.partNo++
	num, slabs, size := w.partNo, w.cur, w.curLen
	w.written += size
	w.cur, w.curLen = nil, 0
	w.mu.Lock()
	w.inFlight++
	w.mu.Unlock()
	w.g.Go(func() error {
		var res *oss.UploadPartResult
		attempts := 0
		defer func() { w.giveBack(slabs, attempts == 1) }() // an abandoned attempt may still be reading them
		// One pass over the part, whatever the attempts: every answer's
		// x-oss-hash-crc64ecma must be this, and the part checksum file and
		// the combined check at Complete use it.
		var crc uint64
		for _, s := range slabs {
			crc = fastcrc.Update(crc, s)
		}
		var err error
		attempts, err = w.c.retryBody(w.gctx, func(opt func(*oss.Options)) (err error) {
			res, err = w.c.oss.UploadPart(w.gctx, &oss.UploadPartRequest{Bucket: oss.Ptr(w.bucket), Key: oss.Ptr(w.key),
				UploadId: oss.Ptr(w.uploadID), PartNumber: num, Body: newSlabReader(slabs), ContentLength: oss.Ptr(size)}, opt)
			if err != nil {
				return err
			}
			return checkSentCRC(res.HashCRC64, crc)
		})
		if err != nil {
			err = wrap("UploadPart", w.bucket, w.key, err)
			w.setErr(err)
			return err
		}
		w.mu.Lock()
		w.parts = append(w.parts, oss.UploadPart{PartNumber: num, ETag: res.ETag})
		w.sums[num] = partSum{size: size, crc: crc}
		w.mu.Unlock()
		return nil
	})
	return nil
}

func (w *Writer) failedOr(err error) error {
	if e := w.failed(); e != nil {
		return e
	}
	return err
}

// Close uploads what is buffered and commits the object. On failure the
// upload is aborted and nothing is visible.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.state != stateOpen {
		state, err := w.state, w.err
		w.mu.Unlock()
		if state == stateClosed {
			return err // closing twice repeats the outcome
		}
		return invalidf("writer was aborted")
	}
	w.mu.Unlock()
	err := w.commit()
	w.mu.Lock()
	w.state = stateClosed
	if err != nil && w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	if err != nil {
		w.abortUpload()
	}
	w.cancel()
	writerClosed(w.capacity)
	return err
}

func (w *Writer) commit() error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.uploadID == "" { // it all fit in one part: a single PUT
		data := []byte{}
		if len(w.cur) == 1 {
			data = w.cur[0]
		} else if len(w.cur) > 1 { // a size hint made the first part larger than a slab
			data = bytes.Join(w.cur, nil)
		}
		return w.c.put(w.ctx, w.bucket, w.key, data, w.excl)
	}
	if w.curLen > 0 {
		if err := w.flushPart(); err != nil {
			return err
		}
	}
	if err := w.g.Wait(); err != nil {
		return w.failedOr(err)
	}
	w.mu.Lock()
	parts := append([]oss.UploadPart(nil), w.parts...)
	w.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	sums := make([]partSum, len(parts))
	for i, p := range parts {
		sums[i] = w.sums[p.PartNumber]
	}
	want := combineParts(sums)
	res, err := w.c.oss.CompleteMultipartUpload(w.ctx, &oss.CompleteMultipartUploadRequest{Bucket: oss.Ptr(w.bucket),
		Key: oss.Ptr(w.key), UploadId: oss.Ptr(w.uploadID), CompleteMultipartUpload: &oss.CompleteMultipartUpload{Parts: parts},
		ForbidOverwrite: forbidOverwrite(w.excl)})
	if err != nil {
		var se *oss.ServiceError
		// A Complete that outlived the client's timeout is retried; OSS
		// finishes the first one anyway, so the retry finds no upload (or,
		// exclusive, an object in the way). The object is then there, and
		// its CRC says whether it is ours.
		if errors.As(err, &se) && (se.Code == "NoSuchUpload" || w.excl && se.Code == CodeAlreadyExists) && w.completedAnyway(want) {
			w.uploadID = ""
			w.partChecksums(sums, want)
			return nil
		}
		return wrap("CompleteMultipartUpload", w.bucket, w.key, err)
	}
	w.uploadID = "" // completed: nothing to abort any more
	if res.HashCRC64 != nil {
		if got, perr := strconv.ParseUint(*res.HashCRC64, 10, 64); perr == nil && got != want {
			// The parts were checked one by one, so this should not happen; if it
			// does, do not leave a corrupt object behind.
			w.c.Remove(context.Background(), w.bucket, w.key)
			return wrap("CompleteMultipartUpload", w.bucket, w.key, fmt.Errorf("%w: object crc64 %d, parts combine to %d", ErrIntegrity, got, want))
		}
	}
	w.partChecksums(sums, want)
	return nil
}

// partChecksums writes the part checksum file once the object is in place
// (before, a reader could find it describing the object it replaces: it
// would not match, and be ignored, but the old object would lose its file).
func (w *Writer) partChecksums(sums []partSum, whole uint64) {
	if !w.c.cfg.CheckpointConfig.DisablePartChecksums {
		w.c.writePartChecksums(w.ctx, w.bucket, w.key, sums, whole)
	}
}

// completedAnyway reports whether the object now in place is the one this
// writer uploaded (same size and CRC-64).
func (w *Writer) completedAnyway(crc uint64) bool {
	return w.c.holds(w.ctx, w.bucket, w.key, w.written, crc)
}

// Abort discards the upload: nothing becomes visible.
func (w *Writer) Abort() error {
	w.mu.Lock()
	if w.state != stateOpen {
		w.mu.Unlock()
		return nil
	}
	w.state = stateAborted
	w.mu.Unlock()
	w.cancel()
	w.g.Wait()
	defer writerClosed(w.capacity)
	return w.abortUpload()
}

func (w *Writer) abortUpload() error {
	if w.uploadID == "" {
		return nil
	}
	w.g.Wait()
	id := w.uploadID
	w.uploadID = ""
	_, err := w.c.oss.AbortMultipartUpload(context.Background(), &oss.AbortMultipartUploadRequest{Bucket: oss.Ptr(w.bucket),
		Key: oss.Ptr(w.key), UploadId: oss.Ptr(id)})
	if err != nil {
		var se *oss.ServiceError
		if errors.As(err, &se) && se.StatusCode == 404 {
			return nil
		}
	}
	return wrap("AbortMultipartUpload", w.bucket, w.key, err)
}

// Written is the number of bytes accepted so far.
func (w *Writer) Written() int64 { return w.written + w.curLen }

// slabReader reads a part held in slabs, as one body.
type slabReader struct {
	slabs [][]byte
	size  int64
	off   int64
}

func newSlabReader(slabs [][]byte) *slabReader {
	r := &slabReader{slabs: slabs}
	for _, s := range slabs {
		r.size += int64(len(s))
	}
	return r
}

func (r *slabReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.off < r.size {
		i, at := r.locate(r.off)
		k := copy(p[n:], r.slabs[i][at:])
		n += k
		r.off += int64(k)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// locate is the slab holding byte off, and off's place in it (every slab
// but the last is full).
func (r *slabReader) locate(off int64) (int, int) {
	for i, s := range r.slabs {
		if off < int64(len(s)) {
			return i, int(off)
		}
		off -= int64(len(s))
	}
	return len(r.slabs) - 1, len(r.slabs[len(r.slabs)-1])
}

// Seek lets the SDK rewind the body (it asks where it is before sending).
func (r *slabReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return r.off, fmt.Errorf("slabReader: invalid whence %d", whence)
	}
	if offset < 0 {
		return r.off, fmt.Errorf("slabReader: negative position %d", offset)
	}
	r.off = offset
	return offset, nil
}
