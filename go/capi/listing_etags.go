package main

import "encoding/binary"

// packedETags is the section a packed listing ends with when the client has
// a node-local cache: each object's ETag, so that a dataset can hand it back
// with the object and the cache can serve an entry without asking OSS
// whether the object changed (docs/cache.md). Without a cache the listing
// stays as small as it was. Layout, after the keys: u64 etags_len, count+1
// u64 offsets, the ETags back to back (as OSS sends them, quotes included).
type packedETags struct {
	offs []uint64
	data []byte
}

func (e *packedETags) add(etag string) {
	if e != nil {
		e.offs = append(e.offs, uint64(len(e.data)))
		e.data = append(e.data, etag...)
	}
}

func (e *packedETags) size() int {
	if e == nil {
		return 0
	}
	return 8 + 8*(len(e.offs)+1) + len(e.data)
}

func (e *packedETags) writeTo(out []byte) {
	if e == nil {
		return
	}
	le := binary.LittleEndian
	le.PutUint64(out, uint64(len(e.data)))
	at := 8
	for _, o := range e.offs {
		le.PutUint64(out[at:], o)
		at += 8
	}
	le.PutUint64(out[at:], uint64(len(e.data)))
	copy(out[at+8:], e.data)
}
