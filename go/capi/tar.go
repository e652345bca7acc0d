package main

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"errors"
	"os"
	"unsafe"

	"osstorchconnector/go/connector"
	"osstorchconnector/go/tarindex"
)

// ost_tar_index_build streams bucket/key (a tar) once and returns its index
// in upstream's encoding (*index) and ours (*checksum); see osstorch.h.
//
//export ost_tar_index_build
func ost_tar_index_build(h C.uint64_t, bucket, key *C.char, index **C.char, indexLen *C.size_t, checksum **C.char, checksumLen *C.size_t, errOut **C.char) C.int32_t {
	return callClient(h, errOut, nil, func(c *connector.Client) error {
		if err := needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(index), unsafe.Pointer(indexLen),
			unsafe.Pointer(checksum), unsafe.Pointer(checksumLen)); err != nil {
			return err
		}
		ix, err := c.BuildTarIndex(context.Background(), C.GoString(bucket), C.GoString(key))
		if err != nil {
			return err
		}
		return outTarIndex(ix, index, indexLen, checksum, checksumLen)
	})
}

// ost_tar_index_from_file indexes a local tar file (path) and returns both
// encodings, as ost_tar_index_build does for one on OSS.
//
//export ost_tar_index_from_file
func ost_tar_index_from_file(path *C.char, index **C.char, indexLen *C.size_t, checksum **C.char, checksumLen *C.size_t, errOut **C.char) C.int32_t {
	return call(errOut, func() error {
		if err := needNonNil(unsafe.Pointer(path), unsafe.Pointer(index), unsafe.Pointer(indexLen), unsafe.Pointer(checksum), unsafe.Pointer(checksumLen)); err != nil {
			return err
		}
		f, err := os.Open(C.GoString(path))
		if err != nil {
			return &connector.Error{Kind: kindOfOSError(err), Op: "OpenTar", Message: err.Error(), Err: err}
		}
		defer f.Close()
		ix, err := tarindex.Build(f)
		if err != nil {
			return invalid(C.GoString(path) + " is not a readable tar archive: " + err.Error())
		}
		return outTarIndex(ix, index, indexLen, checksum, checksumLen)
	})
}

// outTarIndex hands out both encodings of an index.
func outTarIndex(ix *tarindex.Index, index **C.char, indexLen *C.size_t, checksum **C.char, checksumLen *C.size_t) error {
	up, ours, err := connector.EncodeTarIndex(ix)
	if err != nil {
		return err
	}
	*index, *indexLen = cBytes(up)
	*checksum, *checksumLen = cBytes(ours)
	return nil
}

func kindOfOSError(err error) connector.Kind {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return connector.KindNotFound
	case errors.Is(err, os.ErrPermission):
		return connector.KindPermission
	}
	return connector.KindInvalid
}

type tarMember struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// ost_tar_open reads the index at index_bucket/index_key, checks it against
// bucket/key and returns a handle; *members_json lists {"name", "size"} per
// member ("" and -1 where only the member's headers say).
//
//export ost_tar_open
func ost_tar_open(h C.uint64_t, bucket, key, indexBucket, indexKey *C.char, out *C.uint64_t, members **C.char, errOut **C.char) C.int32_t {
	return callClient(h, errOut, nil, func(c *connector.Client) error {
		if err := needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(indexBucket), unsafe.Pointer(indexKey),
			unsafe.Pointer(out), unsafe.Pointer(members)); err != nil {
			return err
		}
		ta, err := c.OpenTar(context.Background(), C.GoString(bucket), C.GoString(key), C.GoString(indexBucket), C.GoString(indexKey))
		if err != nil {
			return err
		}
		list := make([]tarMember, len(ta.Index.Members))
		for i, m := range ta.Index.Members {
			list[i] = tarMember{m.Name, m.Size}
		}
		if err := setJSON(list, members, nil); err != nil {
			return err
		}
		*out = putHandle(ta)
		return nil
	})
}

// ost_tar_read_packed fetches the members at positions[0..count) and returns
// a packed results buffer: record i answers positions[i] (index: that
// position; key: the member's name, "" where the index has none and the
// read failed; no bucket), each body a block of its own.
//
//export ost_tar_read_packed
func ost_tar_read_packed(th C.uint64_t, positions *C.int64_t, count C.size_t, batch *unsafe.Pointer, batchLen *C.size_t, errOut **C.char) C.int32_t {
	return callOn(th, "tar", errOut, []unsafe.Pointer{unsafe.Pointer(batch), unsafe.Pointer(batchLen)}, func(ta *connector.TarArchive) error {
		if positions == nil && count > 0 {
			return invalid("positions is NULL")
		}
		if count > 1<<31 {
			return invalid("more than 2^31 positions")
		}
		var pos []C.int64_t
		if count > 0 {
			pos = unsafe.Slice(positions, int(count))
		}
		indices := make([]int, len(pos))
		for i, p := range pos {
			indices[i] = int(p)
		}
		res := ta.Read(context.Background(), indices, connector.WithAllocator(cAllocator{}))
		recs := make([]result, len(res))
		for i, r := range res {
			name := r.Name
			if r.Err != nil && indices[i] >= 0 && indices[i] < len(ta.Index.Members) {
				name = ta.Index.Members[indices[i]].Name
			}
			recs[i] = result{index: uint64(pos[i]), key: name, data: r.Data, err: r.Err}
		}
		return packResults(recs, batch, batchLen)
	})
}

//export ost_tar_close
func ost_tar_close(th C.uint64_t) C.int32_t {
	return call(nil, func() error {
		_, err := dropHandle[*connector.TarArchive](th, "tar")
		return err
	})
}
