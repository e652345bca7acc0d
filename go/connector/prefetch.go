package connector

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// PrefetchOptions selects what a Prefetcher fetches: every object under
// Bucket/Prefix (listed as the fetching goes), Items, or with Stream the
// items handed to Add while it runs.
type PrefetchOptions struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	Items  []Item `json:"items"`

	// Stream: the items arrive with Add, in order, until EndInput; fetching
	// starts with the first of them. For a consumer whose list is still
	// being made (a listing shared by several processes, handed out page by
	// page).
	Stream bool `json:"stream"`

	// The share of this consumer: items whose position i (in listing or
	// Items order) satisfies i % (WorkerCount*WorldSize) ==
	// Rank*WorkerCount + WorkerID. Zero counts mean 1.
	WorkerID    int `json:"worker_id"`
	WorkerCount int `json:"worker_count"`
	Rank        int `json:"rank"`
	WorldSize   int `json:"world_size"`

	Concurrency  int   `json:"concurrency"`   // requests in flight (default datasetConfig.prefetchConcurrency)
	MemoryBudget int64 `json:"memory_budget"` // bytes fetched but not yet taken (default memoryBudget)

	// Ordered delivers the share in its order (requests still run
	// concurrently): an object that completes early waits, holding its
	// budget, until those before it are delivered; so the budget also
	// bounds how far fetching runs ahead of a slow object.
	Ordered bool `json:"ordered"`
}

// Prefetched is one object a Prefetcher delivers: Data or Err. With
// WithAllocator, a non-empty Data is a block from the allocator that the
// consumer owns once Next (or NextBatch) has returned it.
type Prefetched struct {
	Index  int // position in the whole (unsharded) source
	Bucket string
	Key    string
	Size   int64
	Data   []byte
	Err    error

	weight int64 // budget held until the consumer takes it
	seq    int   // position within the share: the delivery order when Ordered
}

// Prefetcher fetches its share of a listing or key list with bounded
// requests in flight and bounded memory, and yields objects as they
// complete (not in order), or with Ordered in the share's order.
type Prefetcher struct {
	out     chan Prefetched
	bufs    bufs
	cancel  context.CancelFunc
	mem     *semaphore.Weighted
	budget  int64
	done    chan struct{}
	mu      sync.Mutex
	err     error
	closeMu sync.Once
	input   *streamInput // with Stream: where Add puts items
}

// Prefetch starts fetching. Call Next until it returns false, then Err; or
// Close early, which frees what was fetched but not taken.
func (c *Client) Prefetch(ctx context.Context, o PrefetchOptions, opts ...FetchOption) (*Prefetcher, error) {
	if o.WorkerCount <= 0 {
		o.WorkerCount = 1
	}
	if o.WorldSize <= 0 {
		o.WorldSize = 1
	}
	if o.WorkerID < 0 || o.WorkerID >= o.WorkerCount || o.Rank < 0 || o.Rank >= o.WorldSize {
		return nil, invalidf("shard out of range: worker %d of %d, rank %d of %d", o.WorkerID, o.WorkerCount, o.Rank, o.WorldSize)
	}
	if o.Stream && (o.Items != nil || o.Bucket != "") {
		return nil, invalidf("a streamed prefetch takes its items from Add, not from a list or a prefix")
	}
	if !o.Stream && o.Items == nil && o.Bucket == "" {
		return nil, invalidf("prefetch needs a bucket (and prefix), a list of items, or a stream")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = c.cfg.DatasetConfig.PrefetchConcurrency
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = c.cfg.MemoryBudget
	}
	ctx, cancel := context.WithCancel(ctxOr(ctx))
	p := &Prefetcher{out: make(chan Prefetched, o.Concurrency), bufs: bufs{fetchOpts(opts).alloc}, cancel: cancel,
		mem: semaphore.NewWeighted(o.MemoryBudget), budget: o.MemoryBudget, done: make(chan struct{})}
	if o.Stream {
		p.input = newStreamInput()
	}
	total, share := o.WorkerCount*o.WorldSize, o.Rank*o.WorkerCount+o.WorkerID
	deliver := p.out // where fetched objects go: the consumer, or the sequencer that orders them
	sequenced := make(chan struct{})
	if o.Ordered {
		deliver = make(chan Prefetched, o.Concurrency)
		go p.sequence(ctx, deliver, sequenced)
	} else {
		close(sequenced)
	}
	go func() {
		defer close(p.done)
		defer func() { <-sequenced }()
		defer close(deliver)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(o.Concurrency + 1) // +1: the producer below
		index, seq := 0, 0
		emit := func(it Item) error {
			i := index
			index++
			if i%total != share {
				return nil
			}
			w := p.weight(it.Size)
			if err := p.mem.Acquire(gctx, w); err != nil {
				return err
			}
			n := seq
			seq++
			g.Go(func() error {
				r := c.fetchItem(gctx, it, p.bufs)
				select {
				case deliver <- Prefetched{Index: i, Bucket: it.Bucket, Key: it.Key, Size: int64(len(r.Data)), Data: r.Data, Err: r.Err, weight: w, seq: n}:
				case <-gctx.Done():
					p.mem.Release(w) // never delivered
					p.bufs.put(r.Data)
				}
				return nil
			})
			return nil
		}
		var err error
		switch {
		case p.input != nil:
		stream:
			for {
				items, ok := p.input.take(gctx)
				if !ok {
					break
				}
				for _, it := range items {
					if err = emit(it); err != nil {
						break stream
					}
				}
			}
		case o.Items != nil:
			for _, it := range o.Items {
				if err = emit(it); err != nil {
					break
				}
			}
		default:
			err = c.List(gctx, o.Bucket, o.Prefix, func(oi ObjectInfo) error {
				return emit(Item{Bucket: o.Bucket, Key: oi.Key, Size: oi.Size, ETag: oi.ETag})
			})
		}
		g.Wait()
		if err != nil && ctx.Err() == nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// sequence passes the objects that arrive on in to the consumer in seq
// order, and closes the consumer's channel once in is closed. Once ctx is
// cancelled it only frees what arrives.
func (p *Prefetcher) sequence(ctx context.Context, in <-chan Prefetched, finished chan<- struct{}) {
	defer close(finished)
	defer close(p.out)
	early := map[int]Prefetched{}
	next := 0
	free := func(r Prefetched) {
		p.mem.Release(r.weight)
		p.bufs.put(r.Data)
	}
	for r := range in {
		if ctx.Err() != nil {
			free(r)
			continue
		}
		early[r.seq] = r
		for ctx.Err() == nil {
			r, ok := early[next]
			if !ok {
				break
			}
			delete(early, next)
			select {
			case p.out <- r:
				next++
			case <-ctx.Done():
				free(r)
			}
		}
	}
	for _, r := range early {
		free(r)
	}
}

// weight is what an object counts against the memory budget; one larger
// than the whole budget takes all of it (so it still gets fetched, alone).
func (p *Prefetcher) weight(size int64) int64 { return min(max(size, 1), p.budget) }

// Next blocks for the next object; false when all are delivered (or after
// Close). Its bytes leave the memory budget as the consumer takes them.
func (p *Prefetcher) Next() (Prefetched, bool) {
	r, ok := <-p.out
	if ok {
		p.mem.Release(r.weight)
	}
	return r, ok
}

// NextBatch blocks for the next object, then takes every object already
// fetched, up to max in all, without waiting for more; nil when all are
// delivered (or after Close).
func (p *Prefetcher) NextBatch(max int) []Prefetched {
	r, ok := p.Next()
	if !ok {
		return nil
	}
	batch := []Prefetched{r}
	for len(batch) < max {
		select {
		case r, ok := <-p.out:
			if !ok {
				return batch
			}
			p.mem.Release(r.weight)
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// Add queues items of a streamed prefetch (PrefetchOptions.Stream) after
// those added before. It never waits for the fetching: the queue is
// unbounded (items are small; the memory budget bounds the bodies).
func (p *Prefetcher) Add(items []Item) error {
	if p.input == nil {
		return invalidf("Add is for a streamed prefetch (PrefetchOptions.Stream)")
	}
	return p.input.add(items)
}

// EndInput says a streamed prefetch gets no more items: once those added
// are delivered, Next reports the end.
func (p *Prefetcher) EndInput() {
	if p.input != nil {
		p.input.end()
	}
}

// Err is the listing error that ended the stream early, if any.
func (p *Prefetcher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close stops fetching and waits for the workers to end.
func (p *Prefetcher) Close() {
	p.closeMu.Do(func() {
		p.cancel()
		for r := range p.out { // drain so senders can finish
			p.mem.Release(r.weight)
			p.bufs.put(r.Data)
		}
		<-p.done
	})
}
