package main

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"unsafe"

	"osstorchconnector/go/connector"
)

// ost_prefetch_open starts a Prefetcher whose bodies land in malloc'd
// blocks (cAllocator) that ost_prefetch_next_batch hands over.
//
//export ost_prefetch_open
func ost_prefetch_open(h C.uint64_t, optsJSON *C.char, out *C.uint64_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(optsJSON), unsafe.Pointer(out)}, func(c *connector.Client) error {
		var o connector.PrefetchOptions
		if err := parseJSON(optsJSON, &o, "prefetch options"); err != nil {
			return err
		}
		p, err := c.Prefetch(context.Background(), o, connector.WithAllocator(cAllocator{}))
		if err != nil {
			return err
		}
		*out = putHandle(p)
		return nil
	})
}

// ost_prefetch_next_batch blocks for the next object, then takes every
// object already fetched, up to max_items, without waiting for more, and
// hands them over as one packed results buffer (index: the object's
// position in the whole source).
//
//export ost_prefetch_next_batch
func ost_prefetch_next_batch(ph C.uint64_t, maxItems C.int32_t, batch *unsafe.Pointer, batchLen *C.size_t, done *C.int32_t, errOut **C.char) C.int32_t {
	return callOn(ph, "prefetch", errOut, []unsafe.Pointer{unsafe.Pointer(batch), unsafe.Pointer(batchLen), unsafe.Pointer(done)}, func(p *connector.Prefetcher) error {
		if maxItems <= 0 {
			return invalid("max_items must be positive")
		}
		got := p.NextBatch(int(maxItems))
		if got == nil {
			*done, *batch, *batchLen = 1, nil, 0
			return p.Err()
		}
		*done = 0
		recs := make([]result, len(got))
		for i, r := range got {
			recs[i] = result{index: uint64(r.Index), bucket: r.Bucket, key: r.Key, data: r.Data, err: r.Err}
		}
		return packResults(recs, batch, batchLen)
	})
}

// ost_prefetch_add queues the items of a packed items buffer on a streamed
// prefetch ("stream": true), after those added before.
//
//export ost_prefetch_add
func ost_prefetch_add(ph C.uint64_t, items unsafe.Pointer, itemsLen C.size_t, errOut **C.char) C.int32_t {
	return callOn(ph, "prefetch", errOut, []unsafe.Pointer{items}, func(p *connector.Prefetcher) error {
		its, err := decodeItems(items, itemsLen)
		if err != nil {
			return err
		}
		return p.Add(its)
	})
}

// ost_prefetch_end says a streamed prefetch gets no more items.
//
//export ost_prefetch_end
func ost_prefetch_end(ph C.uint64_t, errOut **C.char) C.int32_t {
	return callOn(ph, "prefetch", errOut, nil, func(p *connector.Prefetcher) error {
		p.EndInput()
		return nil
	})
}

// ost_prefetch_close stops the fetching and frees what was fetched but not
// taken.
//
//export ost_prefetch_close
func ost_prefetch_close(ph C.uint64_t) C.int32_t {
	return call(nil, func() error {
		p, err := dropHandle[*connector.Prefetcher](ph, "prefetch")
		if err != nil {
			return err
		}
		p.Close()
		return nil
	})
}
