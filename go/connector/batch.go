package connector

import (
	"context"

	"golang.org/x/sync/errgroup"

	"osstorchconnector/go/fastcrc"
)

// Item names one object to fetch. Size, when known (> 0), lets the fetch
// read straight into a buffer of the right size. ETag, when known (from a
// listing), is what a node-local cache entry must hold to be served without
// asking OSS (docs/cache.md).
type Item struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Size   int64  `json:"size,omitempty"`
	ETag   string `json:"etag,omitempty"`
}

// Result is one fetched object: Data, or Err (a *Error; Kind KindNotFound
// for a missing object).
type Result struct {
	Data []byte
	Err  error
	Name string // a tar member's name, from its index or its headers
}

// BatchGet fetches items concurrently, datasetConfig.prefetchConcurrency at
// a time, and returns the results in input order. A failed item does not
// stop the others. With WithAllocator, each Data is a block of its own from
// the allocator (empty bodies: none), which the caller frees.
func (c *Client) BatchGet(ctx context.Context, items []Item, opts ...FetchOption) []Result {
	ctx = ctxOr(ctx)
	b := bufs{fetchOpts(opts).alloc}
	out := make([]Result, len(items))
	var g errgroup.Group
	g.SetLimit(c.cfg.DatasetConfig.PrefetchConcurrency)
	for i, it := range items {
		g.Go(func() error {
			out[i] = c.fetchItem(ctx, it, b)
			return nil
		})
	}
	g.Wait()
	return out
}

// fetchItem reads one whole object. With a known size the block is taken
// before the request, so the body is read straight into it; otherwise (or if
// the object grew since it was listed) once the response says its length.
// The result holds either no block (an error, an empty body) or exactly one,
// which the caller owns.
func (c *Client) fetchItem(ctx context.Context, it Item, b bufs) Result {
	var dst []byte
	if it.Size > 0 {
		var err error
		if dst, err = b.get(it.Size); err != nil {
			return Result{Err: wrap("GetObject", it.Bucket, it.Key, err)}
		}
	}
	if c.cache != nil {
		if data, ok := c.cachedItem(ctx, it, dst, b); ok {
			if len(data) == 0 || !sameBlock(data, dst) {
				b.put(dst)
			}
			c.stats.cacheHits.Add(1)
			c.stats.cacheHitBytes.Add(int64(len(data)))
			if len(data) == 0 {
				data = []byte{}
			}
			return Result{Data: data}
		}
		c.stats.cacheMisses.Add(1)
	}
	data, meta, err := c.readInto(ctx, it.Bucket, it.Key, 0, -1, dst, "", b)
	if err != nil || len(data) == 0 || !sameBlock(data, dst) {
		b.put(dst) // not handed over: failed, empty, or read into a block of its own
	}
	if err != nil {
		return Result{Err: err}
	}
	if c.cache != nil {
		c.store(it, data, meta)
	}
	if len(data) == 0 {
		data = []byte{}
	}
	return Result{Data: data}
}

// store keeps a fetched object in the node-local cache; a failure to keep it
// costs only a line in the log.
func (c *Client) store(it Item, data []byte, meta objectMeta) {
	crc := meta.CRC64
	if !meta.HasCRC || int64(len(data)) != meta.Size {
		crc = fastcrc.Checksum(data)
	}
	if err := c.cache.put(it.Bucket, it.Key, meta.ETag, data, crc); err != nil {
		c.log.Warn("cache: object not kept", zapKey(it.Bucket, it.Key), zapErr(err))
	}
}
