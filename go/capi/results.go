package main

/*
#include <stdlib.h>
#include <stdint.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"osstorchconnector/go/connector"
	"osstorchconnector/go/packed"
)

// cAllocator gives the connector malloc'd blocks to read bodies into, so a
// body reaches the host in memory it owns (and frees with free) without a
// copy. Go only ever holds these as slices over C memory, which the garbage
// collector does not scan or move.
type cAllocator struct{}

func (cAllocator) Alloc(n int) []byte {
	p := C.malloc(C.size_t(n))
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func (cAllocator) Free(b []byte) { C.free(unsafe.Pointer(unsafe.SliceData(b))) }

// result is one entry of a batch on its way out: a body from cAllocator (or
// none), or an error.
type result struct {
	index       uint64
	bucket, key string
	data        []byte
	err         error
}

// packResults hands out recs as a malloc'd packed results buffer; the bodies
// go with it. Whatever happens, no body stays with Go: if the buffer cannot
// be made (or a panic unwinds through here), the bodies are freed.
func packResults(recs []result, batch *unsafe.Pointer, batchLen *C.size_t) error {
	handed := false
	defer func() {
		if !handed {
			for _, r := range recs {
				cAllocator{}.freeBody(r.data)
			}
		}
	}()
	out := make([]packed.Record, len(recs))
	for i, r := range recs {
		o := packed.Record{Index: r.index, Bucket: r.bucket, Key: r.key}
		switch {
		case r.err != nil:
			o.Flags, o.Error = packed.FlagError, errorDetails(r.err)
		case len(r.data) > 0:
			o.BodyPtr, o.BodyLen = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(r.data)))), uint64(len(r.data))
		}
		out[i] = o
	}
	n, err := packed.ResultsLen(out)
	if err != nil {
		return err
	}
	p := C.malloc(C.size_t(n))
	if p == nil {
		return &connector.Error{Kind: connector.KindInternal, Message: fmt.Sprintf("cannot allocate %d bytes for a batch", n)}
	}
	if err := packed.PutResults(unsafe.Slice((*byte)(p), n), out); err != nil {
		C.free(p)
		return err
	}
	*batch, *batchLen = p, C.size_t(n)
	handed = true
	return nil
}

// freeBody frees a body from Alloc; empty bodies own no block.
func (a cAllocator) freeBody(b []byte) {
	if cap(b) > 0 {
		a.Free(b)
	}
}
