package connector

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Item names one object to fetch. Size, when known (> 0), lets the fetch
// read straight into a buffer of the right size.
type Item struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Size   int64  `json:"size,omitempty"`
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
// stop the others.
func (c *Client) BatchGet(ctx context.Context, items []Item) []Result {
	ctx = ctxOr(ctx)
	out := make([]Result, len(items))
	var g errgroup.Group
	g.SetLimit(c.cfg.DatasetConfig.PrefetchConcurrency)
	for i, it := range items {
		g.Go(func() error {
			out[i] = c.fetchItem(ctx, it)
			return nil
		})
	}
	g.Wait()
	return out
}

func (c *Client) fetchItem(ctx context.Context, it Item) Result {
	var dst []byte
	if it.Size > 0 {
		dst = make([]byte, it.Size)
	}
	data, _, err := c.read(ctx, it.Bucket, it.Key, 0, -1, dst, "")
	return Result{Data: data, Err: err}
}
