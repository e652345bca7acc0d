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

//export ost_writer_open
func ost_writer_open(h C.uint64_t, bucket, key, optsJSON *C.char, out *C.uint64_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out)}, func(c *connector.Client) error {
		var o struct {
			PartSize    int64 `json:"part_size"`
			Concurrency int   `json:"concurrency"`
			SizeHint    int64 `json:"size_hint"`
			Exclusive   bool  `json:"exclusive"`
		}
		if optsJSON != nil {
			if err := parseJSON(optsJSON, &o, "writer options"); err != nil {
				return err
			}
		}
		w, err := c.NewWriter(context.Background(), C.GoString(bucket), C.GoString(key),
			connector.WriterOptions{PartSize: o.PartSize, Concurrency: o.Concurrency, SizeHint: o.SizeHint, Exclusive: o.Exclusive})
		if err != nil {
			return err
		}
		*out = putHandle(w)
		return nil
	})
}

// ost_writer_write copies n bytes from data (the caller may reuse it on return).
//
//export ost_writer_write
func ost_writer_write(wh C.uint64_t, data unsafe.Pointer, n C.size_t, errOut **C.char) C.int32_t {
	return callOn(wh, "writer", errOut, nil, func(w *connector.Writer) error {
		if data == nil && n > 0 {
			return invalid("data is NULL")
		}
		_, err := w.Write(goBytes(data, n)) // Write copies into its part buffer
		return err
	})
}

// ost_writer_close commits the object and releases the handle, also on error
// (then the upload was aborted and nothing is visible).
//
//export ost_writer_close
func ost_writer_close(wh C.uint64_t, errOut **C.char) C.int32_t {
	return call(errOut, func() error {
		w, err := dropHandle[*connector.Writer](wh, "writer")
		if err != nil {
			return err
		}
		return w.Close()
	})
}

// ost_writer_abort discards the upload and releases the handle.
//
//export ost_writer_abort
func ost_writer_abort(wh C.uint64_t) C.int32_t {
	return call(nil, func() error {
		w, err := dropHandle[*connector.Writer](wh, "writer")
		if err != nil {
			return err
		}
		w.Abort()
		return nil
	})
}
