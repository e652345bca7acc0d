package main

/*
#include <stdlib.h>
#include <stdint.h>
*/
import "C"

import (
	"context"
	"errors"
	"io"
	"os"
	"unsafe"

	"osstorchconnector/go/connector"
	"osstorchconnector/go/tarindex"
)

// goBytes views C memory as a Go slice without copying. Only for the
// duration of one call: the caller owns the memory and C never keeps it.
func goBytes(p unsafe.Pointer, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(n))
}

func setJSON(v any, out **C.char, outLen *C.size_t) error {
	raw, err := jsonAPI.Marshal(v)
	if err != nil {
		return err
	}
	p, n := cBytes(raw)
	*out = p
	if outLen != nil {
		*outLen = n
	}
	return nil
}

func needNonNil(ptrs ...unsafe.Pointer) error {
	for _, p := range ptrs {
		if p == nil {
			return invalid("a required pointer argument is NULL")
		}
	}
	return nil
}

//export ost_client_config
func ost_client_config(h C.uint64_t, out **C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(out))
	}
	if err == nil {
		err = setJSON(c.Config(), out, nil)
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_stat
func ost_stat(h C.uint64_t, bucket, key *C.char, out **C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out))
	}
	if err == nil {
		var o connector.ObjectInfo
		if o, err = c.Stat(context.Background(), C.GoString(bucket), C.GoString(key)); err == nil {
			err = setJSON(o, out, nil)
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_has_prefix
func ost_has_prefix(h C.uint64_t, bucket, prefix *C.char, out *C.int32_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(prefix), unsafe.Pointer(out))
	}
	if err != nil {
		return fail(err, errOut)
	}
	found, err := c.HasPrefix(context.Background(), C.GoString(bucket), C.GoString(prefix))
	if err != nil {
		return fail(err, errOut)
	}
	*out = 0
	if found {
		*out = 1
	}
	return stOK
}

//export ost_remove
func ost_remove(h C.uint64_t, bucket, key *C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key))
	}
	if err == nil {
		err = c.Remove(context.Background(), C.GoString(bucket), C.GoString(key))
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_rename
func ost_rename(h C.uint64_t, bucket, key, newBucket, newKey *C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(newBucket), unsafe.Pointer(newKey))
	}
	if err == nil {
		err = c.Rename(context.Background(), C.GoString(bucket), C.GoString(key), C.GoString(newBucket), C.GoString(newKey))
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_put
func ost_put(h C.uint64_t, bucket, key *C.char, data unsafe.Pointer, n C.size_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key))
	}
	if err == nil && data == nil && n > 0 {
		err = invalid("data is NULL")
	}
	if err == nil {
		err = c.Put(context.Background(), C.GoString(bucket), C.GoString(key), goBytes(data, n))
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_read_range
func ost_read_range(h C.uint64_t, bucket, key *C.char, off C.int64_t, buf unsafe.Pointer, n C.size_t, nRead *C.size_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(nRead))
	}
	if err == nil && buf == nil && n > 0 {
		err = invalid("buf is NULL")
	}
	if err == nil {
		var got int
		got, err = c.ReadRange(context.Background(), C.GoString(bucket), C.GoString(key), int64(off), goBytes(buf, n))
		*nRead = C.size_t(got)
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

// ---- random-access reader ----

//export ost_reader_open
func ost_reader_open(h C.uint64_t, bucket, key *C.char, out *C.uint64_t, size *C.int64_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out), unsafe.Pointer(size))
	}
	if err == nil {
		var r *connector.Reader
		if r, err = c.OpenReader(context.Background(), C.GoString(bucket), C.GoString(key)); err == nil {
			*out = C.uint64_t(putHandle(r))
			*size = C.int64_t(r.Size())
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_reader_read_at
func ost_reader_read_at(rh C.uint64_t, off C.int64_t, buf unsafe.Pointer, n C.size_t, nRead *C.size_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	r, err := getHandle[*connector.Reader](rh, "reader")
	if err == nil {
		err = needNonNil(unsafe.Pointer(nRead))
	}
	if err == nil && buf == nil && n > 0 {
		err = invalid("buf is NULL")
	}
	if err == nil {
		var got int
		got, err = r.ReadAt(goBytes(buf, n), int64(off))
		*nRead = C.size_t(got)
		if errors.Is(err, io.EOF) {
			err = nil // a short count says it
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_reader_close
func ost_reader_close(rh C.uint64_t) (status C.int32_t) {
	defer guard(&status, nil)
	r, ok := dropHandle[*connector.Reader](rh)
	if !ok {
		return stInvalid
	}
	r.Close()
	return stOK
}

// ---- batch ----

type batchEntry struct {
	Offset int64      `json:"offset"`
	Size   int64      `json:"size"`
	Name   string     `json:"name,omitempty"` // tar members
	Error  *errorJSON `json:"error,omitempty"`
}

// ost_batch_get fetches the items of items_json ([{"bucket","key","size"?}])
// concurrently. *data receives all objects back to back; *index_json a JSON
// array with, per item in input order, {"offset","size"} or {"error"}.
//
//export ost_batch_get
func ost_batch_get(h C.uint64_t, itemsJSON *C.char, data **C.char, dataLen *C.size_t, index **C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(itemsJSON), unsafe.Pointer(data), unsafe.Pointer(dataLen), unsafe.Pointer(index))
	}
	var items []connector.Item
	if err == nil {
		if jerr := jsonAPI.Unmarshal([]byte(C.GoString(itemsJSON)), &items); jerr != nil {
			err = invalid("items are not valid JSON: " + jerr.Error())
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	if err := packResults(c.BatchGet(context.Background(), items), data, dataLen, index); err != nil {
		return fail(err, errOut)
	}
	return stOK
}

// packResults puts every result's bytes back to back in one malloc'd buffer
// and describes them in a JSON index (offset and size, or error).
func packResults(results []connector.Result, data **C.char, dataLen *C.size_t, index **C.char) error {
	entries := make([]batchEntry, len(results))
	var total int64
	for i, r := range results {
		if r.Err != nil {
			e := toErrorJSON(r.Err)
			entries[i].Error = &e
			continue
		}
		entries[i] = batchEntry{Offset: total, Size: int64(len(r.Data)), Name: r.Name}
		total += int64(len(r.Data))
	}
	p := C.malloc(C.size_t(total) + 1)
	buf := unsafe.Slice((*byte)(p), total+1)
	for i, r := range results {
		if r.Err == nil {
			copy(buf[entries[i].Offset:], r.Data)
		}
	}
	if err := setJSON(entries, index, nil); err != nil {
		C.free(p)
		return err
	}
	*data, *dataLen = (*C.char)(p), C.size_t(total)
	return nil
}

// ---- prefetch iterator ----

//export ost_prefetch_open
func ost_prefetch_open(h C.uint64_t, optsJSON *C.char, out *C.uint64_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(optsJSON), unsafe.Pointer(out))
	}
	var o connector.PrefetchOptions
	if err == nil {
		if jerr := jsonAPI.Unmarshal([]byte(C.GoString(optsJSON)), &o); jerr != nil {
			err = invalid("prefetch options are not valid JSON: " + jerr.Error())
		}
	}
	if err == nil {
		var p *connector.Prefetcher
		if p, err = c.Prefetch(context.Background(), o); err == nil {
			*out = C.uint64_t(putHandle(p))
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
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
// "size"[,"error"]} and *data the bytes.
//
//export ost_prefetch_next
func ost_prefetch_next(ph C.uint64_t, meta **C.char, data **C.char, dataLen *C.size_t, done *C.int32_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	p, err := getHandle[*connector.Prefetcher](ph, "prefetch")
	if err == nil {
		err = needNonNil(unsafe.Pointer(meta), unsafe.Pointer(data), unsafe.Pointer(dataLen), unsafe.Pointer(done))
	}
	if err != nil {
		return fail(err, errOut)
	}
	r, ok := p.Next()
	if !ok {
		*done = 1
		if err := p.Err(); err != nil {
			return fail(err, errOut)
		}
		return stOK
	}
	*done = 0
	m := prefetchMeta{Index: r.Index, Bucket: r.Bucket, Key: r.Key, Size: r.Size}
	if r.Err != nil {
		e := toErrorJSON(r.Err)
		m.Error = &e
	}
	*data, *dataLen = cBytes(r.Data)
	if err := setJSON(m, meta, nil); err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_prefetch_close
func ost_prefetch_close(ph C.uint64_t) (status C.int32_t) {
	defer guard(&status, nil)
	p, ok := dropHandle[*connector.Prefetcher](ph)
	if !ok {
		return stInvalid
	}
	p.Close()
	return stOK
}

// ---- streaming writer ----

//export ost_writer_open
func ost_writer_open(h C.uint64_t, bucket, key, optsJSON *C.char, out *C.uint64_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(out))
	}
	var o struct {
		PartSize    int64 `json:"part_size"`
		Concurrency int   `json:"concurrency"`
		SizeHint    int64 `json:"size_hint"`
	}
	if err == nil && optsJSON != nil {
		if jerr := jsonAPI.Unmarshal([]byte(C.GoString(optsJSON)), &o); jerr != nil {
			err = invalid("writer options are not valid JSON: " + jerr.Error())
		}
	}
	if err == nil {
		var w *connector.Writer
		w, err = c.NewWriter(context.Background(), C.GoString(bucket), C.GoString(key),
			connector.WriterOptions{PartSize: o.PartSize, Concurrency: o.Concurrency, SizeHint: o.SizeHint})
		if err == nil {
			*out = C.uint64_t(putHandle(w))
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

// ost_writer_write copies n bytes from data (the caller may reuse it on return).
//
//export ost_writer_write
func ost_writer_write(wh C.uint64_t, data unsafe.Pointer, n C.size_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	w, err := getHandle[*connector.Writer](wh, "writer")
	if err == nil && data == nil && n > 0 {
		err = invalid("data is NULL")
	}
	if err == nil {
		_, err = w.Write(goBytes(data, n)) // Write copies into its part buffer
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

// ost_writer_close commits the object and releases the handle, also on error
// (then the upload was aborted and nothing is visible).
//
//export ost_writer_close
func ost_writer_close(wh C.uint64_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	w, ok := dropHandle[*connector.Writer](wh)
	if !ok {
		return fail(invalid("unknown writer handle"), errOut)
	}
	if err := w.Close(); err != nil {
		return fail(err, errOut)
	}
	return stOK
}

// ost_writer_abort discards the upload and releases the handle.
//
//export ost_writer_abort
func ost_writer_abort(wh C.uint64_t) (status C.int32_t) {
	defer guard(&status, nil)
	w, ok := dropHandle[*connector.Writer](wh)
	if !ok {
		return stInvalid
	}
	w.Abort()
	return stOK
}

// ost_parse_uri splits "oss://bucket/key" or "/bucket/key" into *bucket and
// *key (both malloc'd).
//
//export ost_parse_uri
func ost_parse_uri(uri *C.char, bucket, key **C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	if err := needNonNil(unsafe.Pointer(uri), unsafe.Pointer(bucket), unsafe.Pointer(key)); err != nil {
		return fail(err, errOut)
	}
	b, k, err := connector.ParseURI(C.GoString(uri))
	if err != nil {
		return fail(err, errOut)
	}
	*bucket, _ = cBytes([]byte(b))
	*key, _ = cBytes([]byte(k))
	return stOK
}

// ---- tar archives ----

// ost_tar_index_build streams bucket/key (a tar) once and returns its index
// in upstream's encoding (*index) and ours (*checksum); see osstorch.h.
//
//export ost_tar_index_build
func ost_tar_index_build(h C.uint64_t, bucket, key *C.char, index **C.char, indexLen *C.size_t, checksum **C.char, checksumLen *C.size_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(index), unsafe.Pointer(indexLen),
			unsafe.Pointer(checksum), unsafe.Pointer(checksumLen))
	}
	var ix *tarindex.Index
	if err == nil {
		ix, err = c.BuildTarIndex(context.Background(), C.GoString(bucket), C.GoString(key))
	}
	if err == nil {
		err = outTarIndex(ix, index, indexLen, checksum, checksumLen)
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
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

type tarMember struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// ost_tar_open reads the index at index_bucket/index_key, checks it against
// bucket/key and returns a handle; *members_json lists {"name", "size"} per
// member ("" and -1 where only the member's headers say).
//
//export ost_tar_open
func ost_tar_open(h C.uint64_t, bucket, key, indexBucket, indexKey *C.char, out *C.uint64_t, members **C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	c, err := getClient(h)
	if err == nil {
		err = needNonNil(unsafe.Pointer(bucket), unsafe.Pointer(key), unsafe.Pointer(indexBucket), unsafe.Pointer(indexKey),
			unsafe.Pointer(out), unsafe.Pointer(members))
	}
	var ta *connector.TarArchive
	if err == nil {
		ta, err = c.OpenTar(context.Background(), C.GoString(bucket), C.GoString(key), C.GoString(indexBucket), C.GoString(indexKey))
	}
	if err == nil {
		list := make([]tarMember, len(ta.Index.Members))
		for i, m := range ta.Index.Members {
			list[i] = tarMember{m.Name, m.Size}
		}
		if err = setJSON(list, members, nil); err == nil {
			*out = C.uint64_t(putHandle(ta))
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	return stOK
}

// ost_tar_read fetches members by index (indices_json: [i, ...]), one ranged
// read per run of consecutive indices; results as ost_batch_get.
//
//export ost_tar_read
func ost_tar_read(th C.uint64_t, indicesJSON *C.char, data **C.char, dataLen *C.size_t, index **C.char, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	ta, err := getHandle[*connector.TarArchive](th, "tar")
	if err == nil {
		err = needNonNil(unsafe.Pointer(indicesJSON), unsafe.Pointer(data), unsafe.Pointer(dataLen), unsafe.Pointer(index))
	}
	var indices []int
	if err == nil {
		if jerr := jsonAPI.Unmarshal([]byte(C.GoString(indicesJSON)), &indices); jerr != nil {
			err = invalid("indices are not a JSON array of integers: " + jerr.Error())
		}
	}
	if err != nil {
		return fail(err, errOut)
	}
	if err := packResults(ta.Read(context.Background(), indices), data, dataLen, index); err != nil {
		return fail(err, errOut)
	}
	return stOK
}

//export ost_tar_close
func ost_tar_close(th C.uint64_t) (status C.int32_t) {
	defer guard(&status, nil)
	if _, ok := dropHandle[*connector.TarArchive](th); !ok {
		return stInvalid
	}
	return stOK
}

// ost_tar_index_from_file indexes a local tar file (path) and returns both
// encodings, as ost_tar_index_build does for one on OSS.
//
//export ost_tar_index_from_file
func ost_tar_index_from_file(path *C.char, index **C.char, indexLen *C.size_t, checksum **C.char, checksumLen *C.size_t, errOut **C.char) (status C.int32_t) {
	defer guard(&status, errOut)
	if err := needNonNil(unsafe.Pointer(path), unsafe.Pointer(index), unsafe.Pointer(indexLen), unsafe.Pointer(checksum), unsafe.Pointer(checksumLen)); err != nil {
		return fail(err, errOut)
	}
	f, err := os.Open(C.GoString(path))
	if err != nil {
		return fail(&connector.Error{Kind: kindOfOSError(err), Op: "OpenTar", Message: err.Error(), Err: err}, errOut)
	}
	defer f.Close()
	ix, err := tarindex.Build(f)
	if err != nil {
		return fail(invalid(C.GoString(path)+" is not a readable tar archive: "+err.Error()), errOut)
	}
	if err := outTarIndex(ix, index, indexLen, checksum, checksumLen); err != nil {
		return fail(err, errOut)
	}
	return stOK
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
