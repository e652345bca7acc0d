package main

/*
#include <stdlib.h>
#include <stdint.h>
*/
import "C"

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"unsafe"

	"osstorchconnector/go/connector"
)

// packedListing builds the buffer ost_list_packed returns: a header
// {u64 count, u64 keys_len}, count little-endian i64 sizes, count+1 u64 key
// offsets, then the keys back to back. Python keeps this one buffer (no
// object per key), so a million keys cost tens of MiB instead of hundreds,
// and forked workers that only read it copy none of it. Objects are added as
// the listing yields them: neither ETags nor per-object structs pile up.
type packedListing struct {
	sizes []int64
	offs  []uint64
	keys  []byte
	etags *packedETags // with a node-local cache only (listing_etags.go)
}

func (p *packedListing) add(o connector.ObjectInfo) error {
	p.offs = append(p.offs, uint64(len(p.keys)))
	p.sizes = append(p.sizes, o.Size)
	p.keys = append(p.keys, o.Key...)
	p.etags.add(o.ETag)
	return nil
}

func (p *packedListing) size() int { return 16 + 16*len(p.sizes) + 8 + len(p.keys) + p.etags.size() }

// writeTo lays the listing out in out, which is p.size() bytes long.
func (p *packedListing) writeTo(out []byte) {
	n := len(p.sizes)
	le := binary.LittleEndian
	le.PutUint64(out[0:], uint64(n))
	le.PutUint64(out[8:], uint64(len(p.keys)))
	at := 16
	for _, s := range p.sizes {
		le.PutUint64(out[at:], uint64(s))
		at += 8
	}
	for _, o := range p.offs {
		le.PutUint64(out[at:], o)
		at += 8
	}
	le.PutUint64(out[at:], uint64(len(p.keys)))
	at += 8 + copy(out[at+8:], p.keys)
	p.etags.writeTo(out[at:])
}

// newPackedListing starts a packed listing, with the objects' ETags when
// withETags (a client with a node-local cache checks entries against them).
func newPackedListing(withETags bool) *packedListing {
	pl := &packedListing{}
	if withETags {
		pl.etags = &packedETags{}
	}
	return pl
}

// toC lays the listing out in memory malloc'd for the caller (released with
// ost_free): straight into C memory, as a large listing is not worth holding
// twice. It returns the size.
func (p *packedListing) toC(out *unsafe.Pointer, outLen *C.size_t) (int, error) {
	n := p.size()
	buf := C.malloc(C.size_t(n))
	if buf == nil {
		return 0, &connector.Error{Kind: connector.KindInternal, Message: fmt.Sprintf("cannot allocate %d bytes for a listing", n)}
	}
	p.writeTo(unsafe.Slice((*byte)(buf), n))
	*out, *outLen = buf, C.size_t(n)
	return n, nil
}

// listConcurrently is OST_LIST_CONCURRENTLY, ost_list_packed's one flag.
const listConcurrently = 1

// bigListing is the packed size from which a listing's garbage is handed
// back to the OS at once (about 100,000 keys).
const bigListing = 4 << 20

//export ost_list_packed
func ost_list_packed(h C.uint64_t, bucket, prefix *C.char, flags C.int32_t, out *unsafe.Pointer, outLen *C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(out), unsafe.Pointer(outLen)}, func(c *connector.Client) error {
		pl := newPackedListing(c.CacheEnabled())
		var opts []connector.ListOption
		if flags&listConcurrently != 0 {
			opts = append(opts, connector.ListConcurrently())
		}
		if err := c.List(context.Background(), C.GoString(bucket), C.GoString(prefix), pl.add, opts...); err != nil {
			return err
		}
		n, err := pl.toC(out, outLen)
		if err == nil && n >= bigListing {
			// Listing a large prefix leaves the Go heap several times the size
			// of the result, all of it garbage now; the runtime would keep it
			// mapped for minutes, and it counts in the process's RSS that every
			// forked DataLoader worker starts from. One collection returns it.
			debug.FreeOSMemory()
		}
		return err
	})
}
