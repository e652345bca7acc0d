package connector

import "fmt"

// Allocator provides the memory object bodies are read into, so that a
// caller outside Go (the C ABI) can receive a body in memory it owns without
// a copy: the HTTP body is read straight into a block from Alloc.
//
// Alloc returns a slice of exactly n bytes (n > 0), or nil when it cannot;
// Free releases a slice Alloc returned (with the same start; its length may
// have been cut). Both may be called from many goroutines at once. A body
// handed to the caller in a Result or Prefetched is the caller's to Free;
// everything else the connector allocates it frees itself (failed reads,
// reads retried into a new block, objects a Prefetcher never delivered).
type Allocator interface {
	Alloc(n int) []byte
	Free(b []byte)
}

// FetchOption configures BatchGet, Prefetch and TarArchive.Read.
type FetchOption func(*fetchOptions)

type fetchOptions struct {
	alloc Allocator
}

// WithAllocator makes bodies land in memory from a (default: the Go heap).
func WithAllocator(a Allocator) FetchOption {
	return func(o *fetchOptions) { o.alloc = a }
}

func fetchOpts(opts []FetchOption) fetchOptions {
	var o fetchOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// bufs allocates body buffers from an Allocator, or the Go heap without one.
// Empty bodies take no allocation at all.
type bufs struct{ a Allocator }

func (b bufs) get(n int64) ([]byte, error) {
	switch {
	case n < 0:
		return nil, invalidf("negative buffer size %d", n)
	case n == 0:
		return []byte{}, nil
	case b.a == nil:
		return make([]byte, n), nil
	case int64(int(n)) != n:
		return nil, &Error{Kind: KindInternal, Message: fmt.Sprintf("cannot allocate %d bytes", n)}
	}
	p := b.a.Alloc(int(n))
	if len(p) != int(n) {
		return nil, &Error{Kind: KindInternal, Message: fmt.Sprintf("cannot allocate %d bytes", n)}
	}
	return p, nil
}

// put releases a buffer from get (nothing for heap or empty buffers).
func (b bufs) put(p []byte) {
	if b.a != nil && cap(p) > 0 {
		b.a.Free(p)
	}
}

// sameBlock reports whether a and b start at the same byte: a read into a
// block returns a slice of it, and a block is freed by its start.
func sameBlock(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}
