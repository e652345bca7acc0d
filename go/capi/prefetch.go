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
// blocks (cAllocator), whichever of ost_prefetch_next and
// ost_prefetch_next_batch takes them.
//
//export ost_prefetch_open
func ost_prefetch_open(h C.uint64_t, optsJSON *C.char, out *C.uint64_t, errOut **C.char) C.int32_t {
	return call(errOut, func() error {
		c, err := getClient(h)
		if err != nil {
			return err
		}
		if err := needNonNil(unsafe.Pointer(optsJSON), unsafe.Pointer(out)); err != nil {
			return err
		}
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

type prefetchMeta struct {
	Index  int        `json:"index"`
	Bucket string     `json:"bucket"`
	Key    string     `json:"key"`
	Size   int64      `json:"size"`
	Error  *errorJSON `json:"error,omitempty"`
}

// ost_prefetch_next blocks for the next object. *done is set to 1 (and
// nothing else) at the end; a listing failure that ended the stream early is
// returned as an error then. Otherwise *meta gets {"index","bucket","key",
// "size"[,"error"]} and *data the bytes (the block they were read into).
// Superseded by ost_prefetch_next_batch.
//
//export ost_prefetch_next
func ost_prefetch_next(ph C.uint64_t, meta **C.char, data **C.char, dataLen *C.size_t, done *C.int32_t, errOut **C.char) C.int32_t {
	return call(errOut, func() error {
		p, err := getHandle[*connector.Prefetcher](ph, "prefetch")
		if err != nil {
			return err
		}
		if err := needNonNil(unsafe.Pointer(meta), unsafe.Pointer(data), unsafe.Pointer(dataLen), unsafe.Pointer(done)); err != nil {
			return err
		}
		r, ok := p.Next()
		if !ok {
			*done = 1
			return p.Err()
		}
		*done = 0
		handed := false
		defer func() {
			if !handed {
				cAllocator{}.freeBody(r.Data)
			}
		}()
		m := prefetchMeta{Index: r.Index, Bucket: r.Bucket, Key: r.Key, Size: r.Size}
		if r.Err != nil {
			e := toErrorJSON(r.Err)
			m.Error = &e
		}
		if err := setJSON(m, meta, nil); err != nil {
			return err
		}
		if len(r.Data) == 0 {
			*data, *dataLen = cBytes(nil) // a block even for no bytes, as always
		} else {
			*data, *dataLen = (*C.char)(unsafe.Pointer(unsafe.SliceData(r.Data))), C.size_t(len(r.Data))
		}
		handed = true
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
	return call(errOut, func() error {
		p, err := getHandle[*connector.Prefetcher](ph, "prefetch")
		if err != nil {
			return err
		}
		if err := needNonNil(unsafe.Pointer(batch), unsafe.Pointer(batchLen), unsafe.Pointer(done)); err != nil {
			return err
		}
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
