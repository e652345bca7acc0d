// Command capi is built with -buildmode=c-shared into libosstorch.so. It is
// the only place that knows about C: opaque handles, status codes, malloc'd
// results. The contract is documented in include/osstorch.h.
//
// This file is the boundary every export goes through: the handle table,
// the status codes and error details, and call, which runs an export's body
// (a plain func() error) with panics recovered. The exports live in one file
// per handle kind (client.go, reader.go, writer.go, prefetch.go, tar.go),
// listing.go (the packed listing), credentials.go (the host's credentials
// callback) and runtime.go; results.go builds the batched results they hand
// over.
package main

/*
#include <stdlib.h>
#include <stdint.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"osstorchconnector/go/connector"

	jsoniter "github.com/json-iterator/go"
)

var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

// The ost_status values of osstorch.h (and of Python's table of them).
const (
	stOK         C.int32_t = 0
	stInternal   C.int32_t = 1
	stInvalid    C.int32_t = 2
	stNotFound   C.int32_t = 3
	stPermission C.int32_t = 4
	stService    C.int32_t = 5
	stNetwork    C.int32_t = 6
	stCanceled   C.int32_t = 7
)

var statusOfKind = map[connector.Kind]C.int32_t{
	connector.KindInvalid: stInvalid, connector.KindNotFound: stNotFound, connector.KindPermission: stPermission,
	connector.KindService: stService, connector.KindNetwork: stNetwork, connector.KindCanceled: stCanceled,
}

// call runs the body of an export: an error becomes its status and, when
// errOut is not NULL, its details in *errOut; a panic becomes
// OST_ERR_INTERNAL, since a panic crossing into the host would kill it.
// Every export returns through it, so each body is a plain func() error
// with early returns.
func call(errOut **C.char, fn func() error) (status C.int32_t) {
	defer guard(&status, errOut)
	if err := fn(); err != nil {
		return fail(err, errOut)
	}
	return stOK
}

func guard(status *C.int32_t, errOut **C.char) {
	if r := recover(); r != nil {
		*status = fail(&connector.Error{Kind: connector.KindInternal, Message: fmt.Sprintf("panic: %v\n%s", r, debug.Stack())}, errOut)
	}
}

// fail writes err's details to *errOut (if not NULL) and returns its status.
func fail(err error, errOut **C.char) C.int32_t {
	ce := asConnectorError(err)
	st, ok := statusOfKind[ce.Kind]
	if !ok {
		st = stInternal
	}
	if errOut != nil {
		*errOut, _ = cBytes(errorDetails(ce))
	}
	return st
}

// ---- handles: no Go pointer ever reaches C ----

var (
	handleMu   sync.Mutex
	handleNext atomic.Uint64
	handles    = map[uint64]any{}
)

func putHandle(v any) C.uint64_t {
	h := handleNext.Add(1)
	handleMu.Lock()
	handles[h] = v
	handleMu.Unlock()
	return C.uint64_t(h)
}

func getHandle[T any](h C.uint64_t, what string) (T, error) {
	handleMu.Lock()
	v := handles[uint64(h)]
	handleMu.Unlock()
	t, ok := v.(T)
	if !ok {
		var zero T
		return zero, invalid(fmt.Sprintf("unknown %s handle %d", what, uint64(h)))
	}
	return t, nil
}

// dropHandle removes h if it holds a T and returns it.
func dropHandle[T any](h C.uint64_t, what string) (T, error) {
	handleMu.Lock()
	defer handleMu.Unlock()
	t, ok := handles[uint64(h)].(T)
	if !ok {
		return t, invalid(fmt.Sprintf("unknown %s handle %d", what, uint64(h)))
	}
	delete(handles, uint64(h))
	return t, nil
}

func liveHandles() int {
	handleMu.Lock()
	defer handleMu.Unlock()
	return len(handles)
}

// callOn is call for an export on a handle of kind T: fn runs with the
// handle's object once h is known and the pointer arguments in required are
// all non-NULL.
func callOn[T any](h C.uint64_t, what string, errOut **C.char, required []unsafe.Pointer, fn func(T) error) C.int32_t {
	return call(errOut, func() error {
		v, err := getHandle[T](h, what)
		if err != nil {
			return err
		}
		if err := needNonNil(required...); err != nil {
			return err
		}
		return fn(v)
	})
}

// callClient is callOn for a client handle.
func callClient(h C.uint64_t, errOut **C.char, required []unsafe.Pointer, fn func(*connector.Client) error) C.int32_t {
	return callOn(h, "client", errOut, required, fn)
}

// ---- errors ----

func invalid(msg string) error { return &connector.Error{Kind: connector.KindInvalid, Message: msg} }

func needNonNil(ptrs ...unsafe.Pointer) error {
	for _, p := range ptrs {
		if p == nil {
			return invalid("a required pointer argument is NULL")
		}
	}
	return nil
}

type errorJSON struct {
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Op        string `json:"op,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
	Code      string `json:"code,omitempty"`
	Status    int    `json:"status,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Timeout: the server did not answer in time; Integrity: bytes failed
	// their CRC-64 check. Both are KindNetwork; Python picks errno by them.
	Timeout   bool `json:"timeout,omitempty"`
	Integrity bool `json:"integrity,omitempty"`
}

func asConnectorError(err error) *connector.Error {
	var ce *connector.Error
	if !errors.As(err, &ce) {
		ce = &connector.Error{Kind: connector.KindInternal, Message: err.Error()}
	}
	return ce
}

func toErrorJSON(err error) errorJSON {
	ce := asConnectorError(err)
	return errorJSON{Kind: ce.Kind.String(), Message: ce.Error(), Op: ce.Op, Bucket: ce.Bucket,
		Key: ce.Key, Code: ce.Code, Status: ce.Status, RequestID: ce.RequestID,
		Timeout: connector.IsTimeout(ce), Integrity: errors.Is(ce, connector.ErrIntegrity)}
}

// errorDetails is the error JSON object of osstorch.h.
func errorDetails(err error) []byte {
	raw, jerr := jsonAPI.Marshal(toErrorJSON(err))
	if jerr != nil { // only strings and numbers: cannot happen, but never hand over nothing
		raw = []byte(`{"kind":"internal","message":"error details could not be encoded"}`)
	}
	return raw
}

// ---- memory handed to C ----

// cBytes copies b into malloc'd memory with a trailing NUL (the caller frees
// it with ost_free).
func cBytes(b []byte) (*C.char, C.size_t) {
	p := C.malloc(C.size_t(len(b)) + 1)
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(p), len(b)), b)
	}
	*(*byte)(unsafe.Add(p, len(b))) = 0
	return (*C.char)(p), C.size_t(len(b))
}

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

// parseJSON reads a NUL-terminated JSON argument into v.
func parseJSON(s *C.char, v any, what string) error {
	if err := jsonAPI.Unmarshal([]byte(C.GoString(s)), v); err != nil {
		return invalid(what + " are not valid JSON: " + err.Error())
	}
	return nil
}

func main() {}
