package main

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"errors"
	"io"
	"unsafe"

	"osstorchconnector/go/connector"
)

//export ost_reader_open
func ost_reader_open(h C.uint64_t, bucket, key *C.char, out *C.uint64_t, size *C.int64_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out), unsafe.Pointer(size)}, func(c *connector.Client) error {
		r, err := c.OpenReader(context.Background(), C.GoString(bucket), C.GoString(key))
		if err != nil {
			return err
		}
		*out = putHandle(r)
		*size = C.int64_t(r.Size())
		return nil
	})
}

//export ost_reader_read_at
func ost_reader_read_at(rh C.uint64_t, off C.int64_t, buf unsafe.Pointer, n C.size_t, nRead *C.size_t, errOut **C.char) C.int32_t {
	return callOn(rh, "reader", errOut, []unsafe.Pointer{unsafe.Pointer(nRead)}, func(r *connector.Reader) error {
		if buf == nil && n > 0 {
			return invalid("buf is NULL")
		}
		got, err := r.ReadAt(goBytes(buf, n), int64(off))
		*nRead = C.size_t(got)
		if errors.Is(err, io.EOF) {
			return nil // a short count says it
		}
		return err
	})
}

//export ost_reader_close
func ost_reader_close(rh C.uint64_t) C.int32_t {
	return call(nil, func() error {
		r, err := dropHandle[*connector.Reader](rh, "reader")
		if err != nil {
			return err
		}
		r.Close()
		return nil
	})
}
