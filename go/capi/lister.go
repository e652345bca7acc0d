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

// ost_lister_open starts listing bucket/prefix in the background.
//
//export ost_lister_open
func ost_lister_open(h C.uint64_t, bucket, prefix *C.char, out *C.uint64_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(prefix), unsafe.Pointer(out)}, func(c *connector.Client) error {
		*out = putHandle(c.StartListing(context.Background(), C.GoString(bucket), C.GoString(prefix)))
		return nil
	})
}

// ost_lister_next waits for objects and hands over those listed since the
// last call (at most max_keys) as one packed listing (ost_list_packed's
// layout); at the end *done = 1 and nothing is allocated.
//
//export ost_lister_next
func ost_lister_next(lh C.uint64_t, maxKeys C.int32_t, out *unsafe.Pointer, outLen *C.size_t, done *C.int32_t, errOut **C.char) C.int32_t {
	return callOn(lh, "lister", errOut, []unsafe.Pointer{unsafe.Pointer(out), unsafe.Pointer(outLen), unsafe.Pointer(done)}, func(l *connector.Lister) error {
		if maxKeys <= 0 {
			return invalid("max_keys must be positive")
		}
		got, err := l.Next(int(maxKeys))
		if err != nil {
			return err
		}
		if len(got) == 0 {
			*done, *out, *outLen = 1, nil, 0
			return nil
		}
		pl := newPackedListing(l.WithETags())
		for _, o := range got {
			if err := pl.add(o); err != nil {
				return err
			}
		}
		if _, err := pl.toC(out, outLen); err != nil {
			return err
		}
		*done = 0
		return nil
	})
}

// ost_lister_close stops the listing and releases the handle.
//
//export ost_lister_close
func ost_lister_close(lh C.uint64_t) C.int32_t {
	return call(nil, func() error {
		l, err := dropHandle[*connector.Lister](lh, "lister")
		if err != nil {
			return err
		}
		l.Close()
		return nil
	})
}
