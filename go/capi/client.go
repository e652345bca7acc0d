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
	"osstorchconnector/go/packed"
)

//export ost_client_new
func ost_client_new(optionsJSON *C.char, out *C.uint64_t, errOut **C.char) C.int32_t {
	return call(errOut, func() error {
		if optionsJSON == nil || out == nil {
			return invalid("options_json and out must not be NULL")
		}
		var o struct {
			connector.Options
			// A token the host's credentials callback maps to its cred_provider.
			CredProviderToken uint64 `json:"cred_provider_token"`
		}
		if err := parseJSON(optionsJSON, &o, "options"); err != nil {
			return err
		}
		if o.CredProviderToken != 0 {
			o.CredentialsFunc = providerFunc(o.CredProviderToken)
		}
		c, err := connector.NewClient(o.Options)
		if err != nil {
			return err
		}
		*out = putHandle(c)
		return nil
	})
}

//export ost_client_free
func ost_client_free(h C.uint64_t) C.int32_t {
	return call(nil, func() error {
		_, err := dropHandle[*connector.Client](h, "client")
		return err
	})
}

//export ost_client_config
func ost_client_config(h C.uint64_t, out **C.char, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(out)}, func(c *connector.Client) error {
		return setJSON(c.Config(), out, nil)
	})
}

//export ost_client_stats
func ost_client_stats(h C.uint64_t, out **C.char, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(out)}, func(c *connector.Client) error {
		return setJSON(c.Stats(), out, nil)
	})
}

//export ost_list
func ost_list(h C.uint64_t, bucket, prefix *C.char, out **C.char, outLen *C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(out), unsafe.Pointer(outLen)}, func(c *connector.Client) error {
		objs := []connector.ObjectInfo{}
		err := c.List(context.Background(), C.GoString(bucket), C.GoString(prefix), func(o connector.ObjectInfo) error {
			objs = append(objs, o)
			return nil
		})
		if err != nil {
			return err
		}
		return setJSON(objs, out, outLen)
	})
}

//export ost_get
func ost_get(h C.uint64_t, bucket, key *C.char, out **C.char, outLen *C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out), unsafe.Pointer(outLen)}, func(c *connector.Client) error {
		data, err := c.Get(context.Background(), C.GoString(bucket), C.GoString(key))
		if err != nil {
			return err
		}
		*out, *outLen = cBytes(data)
		return nil
	})
}

//export ost_stat
func ost_stat(h C.uint64_t, bucket, key *C.char, out **C.char, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out)}, func(c *connector.Client) error {
		o, err := c.Stat(context.Background(), C.GoString(bucket), C.GoString(key))
		if err != nil {
			return err
		}
		return setJSON(o, out, nil)
	})
}

//export ost_has_prefix
func ost_has_prefix(h C.uint64_t, bucket, prefix *C.char, out *C.int32_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(prefix), unsafe.Pointer(out)}, func(c *connector.Client) error {
		found, err := c.HasPrefix(context.Background(), C.GoString(bucket), C.GoString(prefix))
		if err != nil {
			return err
		}
		*out = 0
		if found {
			*out = 1
		}
		return nil
	})
}

//export ost_remove
func ost_remove(h C.uint64_t, bucket, key *C.char, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key)}, func(c *connector.Client) error {
		return c.Remove(context.Background(), C.GoString(bucket), C.GoString(key))
	})
}

//export ost_rename
func ost_rename(h C.uint64_t, bucket, key, newBucket, newKey *C.char, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(newBucket), unsafe.Pointer(newKey)}, func(c *connector.Client) error {
		return c.Rename(context.Background(), C.GoString(bucket), C.GoString(key), C.GoString(newBucket), C.GoString(newKey))
	})
}

//export ost_put
func ost_put(h C.uint64_t, bucket, key *C.char, data unsafe.Pointer, n C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key)}, func(c *connector.Client) error {
		if data == nil && n > 0 {
			return invalid("data is NULL")
		}
		return c.Put(context.Background(), C.GoString(bucket), C.GoString(key), goBytes(data, n))
	})
}

//export ost_read_range
func ost_read_range(h C.uint64_t, bucket, key *C.char, off C.int64_t, buf unsafe.Pointer, n C.size_t, nRead *C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(nRead)}, func(c *connector.Client) error {
		if buf == nil && n > 0 {
			return invalid("buf is NULL")
		}
		got, err := c.ReadRange(context.Background(), C.GoString(bucket), C.GoString(key), int64(off), goBytes(buf, n))
		*nRead = C.size_t(got)
		return err
	})
}

// decodeItems reads a packed items buffer the caller passed.
func decodeItems(items unsafe.Pointer, itemsLen C.size_t) ([]connector.Item, error) {
	list, err := packed.DecodeItems(goBytes(items, itemsLen))
	if err != nil {
		return nil, invalid("items: " + err.Error())
	}
	its := make([]connector.Item, len(list))
	for i, it := range list {
		its[i] = connector.Item{Bucket: it.Bucket, Key: it.Key, Size: it.Size, ETag: it.ETag}
	}
	return its, nil
}

// ost_batch_get_packed fetches the items of a packed items buffer
// concurrently, each body straight into a block of its own, and returns a
// packed results buffer: record i answers item i (index i, the item's
// bucket and key).
//
//export ost_batch_get_packed
func ost_batch_get_packed(h C.uint64_t, items unsafe.Pointer, itemsLen C.size_t, batch *unsafe.Pointer, batchLen *C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, []unsafe.Pointer{items, unsafe.Pointer(batch), unsafe.Pointer(batchLen)}, func(c *connector.Client) error {
		its, err := decodeItems(items, itemsLen)
		if err != nil {
			return err
		}
		res := c.BatchGet(context.Background(), its, connector.WithAllocator(cAllocator{}))
		recs := make([]result, len(res))
		for i, r := range res {
			recs[i] = result{index: uint64(i), bucket: its[i].Bucket, key: its[i].Key, data: r.Data, err: r.Err}
		}
		return packResults(recs, batch, batchLen)
	})
}

// ost_parse_uri splits "oss://bucket/key" or "/bucket/key" into *bucket and
// *key (both malloc'd).
//
//export ost_parse_uri
func ost_parse_uri(uri *C.char, bucket, key **C.char, errOut **C.char) C.int32_t {
	return call(errOut, func() error {
		if err := needNonNil(unsafe.Pointer(uri), unsafe.Pointer(bucket), unsafe.Pointer(key)); err != nil {
			return err
		}
		b, k, err := connector.ParseURI(C.GoString(uri))
		if err != nil {
			return err
		}
		*bucket, _ = cBytes([]byte(b))
		*key, _ = cBytes([]byte(k))
		return nil
	})
}
