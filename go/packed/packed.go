// Package packed is the binary layout in which the C ABI hands over batches
// of fetched objects (ost_prefetch_next_batch, ost_batch_get_packed,
// ost_tar_read_packed) and takes lists of objects to fetch
// (ost_batch_get_packed), so that the per-sample path parses no JSON.
// include/osstorch.h specifies the same layouts for C.
//
// Every integer is little-endian; every record has a fixed size; the
// variable-length strings follow the records, in record order, unpadded.
// A body is not part of a result buffer: a record carries its address and
// length, and the block is the receiver's to free. Decoders are strict (a
// buffer has exactly one valid reading, and Put* of a decoded buffer gives
// it back byte for byte) and check every length before they allocate, so
// arbitrary input gives an error, never a panic or a large allocation.
package packed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Layout constants. The magics read "OSB1" and "OSI1" as bytes; a change of
// layout gets a new magic.
const (
	ResultsMagic uint32 = 'O' | 'S'<<8 | 'B'<<16 | '1'<<24
	ItemsMagic   uint32 = 'O' | 'S'<<8 | 'I'<<16 | '1'<<24
	// ItemsETagMagic ("OSI2") marks items that carry their listing's ETag
	// (for the node-local cache): written only when some item has one.
	ItemsETagMagic uint32 = 'O' | 'S'<<8 | 'I'<<16 | '2'<<24

	HeaderSize = 8  // u32 magic, u32 count
	RecordSize = 40 // one result: u64 index, body_ptr, body_len; u32 bucket_len, key_len, error_len, flags
	ItemSize   = 16 // one item to fetch: u32 bucket_len, key_len; i64 size
	// one item with its ETag: u32 bucket_len, key_len; i64 size; u32
	// etag_len, u32 0
	ItemETagSize = 24
)

// FlagError marks a failed result: it has error details (the error JSON
// object of the C ABI) and no body. No other flag bit is defined; all must
// be 0.
const FlagError uint32 = 1

// ErrFormat is wrapped by every decoding error.
var ErrFormat = errors.New("packed: malformed buffer")

// Record is one result: a body (BodyPtr, BodyLen: an address the receiver
// frees, 0 for an empty body) or an error (Error non-empty, FlagError set,
// no body).
type Record struct {
	Index   uint64
	BodyPtr uint64
	BodyLen uint64
	Flags   uint32
	Bucket  string
	Key     string
	Error   []byte
}

// Item is one object to fetch; Size > 0 when known (the body is then read
// straight into a block of that size), else 0.
type Item struct {
	Bucket string
	Key    string
	Size   int64
	ETag   string // "" when unknown
}

// itemsLayout is the magic and record size that items are written with.
func itemsLayout(items []Item) (uint32, int) {
	for _, it := range items {
		if it.ETag != "" {
			return ItemsETagMagic, ItemETagSize
		}
	}
	return ItemsMagic, ItemSize
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

func checkRecord(i int, r *Record) error {
	switch {
	case r.Flags&^FlagError != 0:
		return formatErr("record %d: unknown flags %#x", i, r.Flags)
	case (r.Flags&FlagError != 0) != (len(r.Error) > 0):
		return formatErr("record %d: the error flag and the error details disagree", i)
	case len(r.Error) > 0 && (r.BodyPtr != 0 || r.BodyLen != 0):
		return formatErr("record %d: an error with a body", i)
	case (r.BodyPtr == 0) != (r.BodyLen == 0):
		return formatErr("record %d: body address %#x with length %d", i, r.BodyPtr, r.BodyLen)
	case uint64(len(r.Bucket)) > math.MaxUint32 || uint64(len(r.Key)) > math.MaxUint32 || uint64(len(r.Error)) > math.MaxUint32:
		return formatErr("record %d: a string longer than 4 GiB", i)
	}
	return nil
}

// ResultsLen is the size of the buffer that holds recs, or an error if a
// record breaks the rules of the layout.
func ResultsLen(recs []Record) (int, error) {
	if uint64(len(recs)) > math.MaxUint32 {
		return 0, formatErr("%d records", len(recs))
	}
	n := HeaderSize + RecordSize*len(recs)
	for i := range recs {
		if err := checkRecord(i, &recs[i]); err != nil {
			return 0, err
		}
		n += len(recs[i].Bucket) + len(recs[i].Key) + len(recs[i].Error)
	}
	return n, nil
}

// PutResults writes recs into dst, which must be ResultsLen(recs) bytes.
func PutResults(dst []byte, recs []Record) error {
	n, err := ResultsLen(recs)
	if err != nil {
		return err
	}
	if len(dst) != n {
		return fmt.Errorf("packed: buffer of %d bytes for %d", len(dst), n)
	}
	le := binary.LittleEndian
	le.PutUint32(dst[0:], ResultsMagic)
	le.PutUint32(dst[4:], uint32(len(recs)))
	s := HeaderSize + RecordSize*len(recs)
	for i, r := range recs {
		b := dst[HeaderSize+RecordSize*i:]
		le.PutUint64(b[0:], r.Index)
		le.PutUint64(b[8:], r.BodyPtr)
		le.PutUint64(b[16:], r.BodyLen)
		le.PutUint32(b[24:], uint32(len(r.Bucket)))
		le.PutUint32(b[28:], uint32(len(r.Key)))
		le.PutUint32(b[32:], uint32(len(r.Error)))
		le.PutUint32(b[36:], r.Flags)
		s += copy(dst[s:], r.Bucket)
		s += copy(dst[s:], r.Key)
		s += copy(dst[s:], r.Error)
	}
	return nil
}

// AppendResults appends the encoding of recs to dst.
func AppendResults(dst []byte, recs []Record) ([]byte, error) {
	n, err := ResultsLen(recs)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	return dst, PutResults(dst[start:], recs)
}

// header checks a header and that count records of size each fit in b.
func header(b []byte, magic uint32, size int) (int, error) {
	if len(b) < HeaderSize {
		return 0, formatErr("%d bytes, shorter than the header", len(b))
	}
	le := binary.LittleEndian
	if m := le.Uint32(b); m != magic {
		return 0, formatErr("magic %#08x, want %#08x", m, magic)
	}
	count := uint64(le.Uint32(b[4:]))
	if count > uint64(len(b)-HeaderSize)/uint64(size) {
		return 0, formatErr("%d records do not fit in %d bytes", count, len(b))
	}
	return int(count), nil
}

// take cuts the next n bytes off the strings area.
func take(b []byte, at *int, n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(b)-*at) {
		return nil, formatErr("strings run past the end of the buffer")
	}
	s := b[*at : *at+int(n)]
	*at += int(n)
	return s, nil
}

// DecodeResults reads a results buffer. Strings are copied; bodies are only
// addresses, never dereferenced.
func DecodeResults(b []byte) ([]Record, error) {
	count, err := header(b, ResultsMagic, RecordSize)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	recs := make([]Record, count)
	at := HeaderSize + RecordSize*count
	for i := range recs {
		f := b[HeaderSize+RecordSize*i:]
		r := &recs[i]
		r.Index, r.BodyPtr, r.BodyLen, r.Flags = le.Uint64(f[0:]), le.Uint64(f[8:]), le.Uint64(f[16:]), le.Uint32(f[36:])
		var bucket, key, errJSON []byte
		if bucket, err = take(b, &at, le.Uint32(f[24:])); err != nil {
			return nil, err
		}
		if key, err = take(b, &at, le.Uint32(f[28:])); err != nil {
			return nil, err
		}
		if errJSON, err = take(b, &at, le.Uint32(f[32:])); err != nil {
			return nil, err
		}
		r.Bucket, r.Key = string(bucket), string(key)
		if len(errJSON) > 0 {
			r.Error = append([]byte(nil), errJSON...)
		}
		if err := checkRecord(i, r); err != nil {
			return nil, err
		}
	}
	if at != len(b) {
		return nil, formatErr("%d bytes after the last string", len(b)-at)
	}
	return recs, nil
}

// ItemsLen is the size of the buffer that holds items.
func ItemsLen(items []Item) (int, error) {
	if uint64(len(items)) > math.MaxUint32 {
		return 0, formatErr("%d items", len(items))
	}
	_, size := itemsLayout(items)
	n := HeaderSize + size*len(items)
	for i, it := range items {
		if it.Size < 0 {
			return 0, formatErr("item %d: negative size %d", i, it.Size)
		}
		if uint64(len(it.Bucket)) > math.MaxUint32 || uint64(len(it.Key)) > math.MaxUint32 || uint64(len(it.ETag)) > math.MaxUint32 {
			return 0, formatErr("item %d: a string longer than 4 GiB", i)
		}
		n += len(it.Bucket) + len(it.Key) + len(it.ETag)
	}
	return n, nil
}

// AppendItems appends the encoding of items to dst.
func AppendItems(dst []byte, items []Item) ([]byte, error) {
	n, err := ItemsLen(items)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	b := dst[start:]
	le := binary.LittleEndian
	magic, size := itemsLayout(items)
	le.PutUint32(b[0:], magic)
	le.PutUint32(b[4:], uint32(len(items)))
	s := HeaderSize + size*len(items)
	for i, it := range items {
		f := b[HeaderSize+size*i:]
		le.PutUint32(f[0:], uint32(len(it.Bucket)))
		le.PutUint32(f[4:], uint32(len(it.Key)))
		le.PutUint64(f[8:], uint64(it.Size))
		s += copy(b[s:], it.Bucket)
		s += copy(b[s:], it.Key)
		if size == ItemETagSize {
			le.PutUint32(f[16:], uint32(len(it.ETag)))
			s += copy(b[s:], it.ETag)
		}
	}
	return dst, nil
}

// DecodeItems reads an items buffer (either layout).
func DecodeItems(b []byte) ([]Item, error) {
	magic, recSize := ItemsMagic, ItemSize
	if len(b) >= 4 && binary.LittleEndian.Uint32(b) == ItemsETagMagic {
		magic, recSize = ItemsETagMagic, ItemETagSize
	}
	count, err := header(b, magic, recSize)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	items := make([]Item, count)
	at := HeaderSize + recSize*count
	withETag := false
	for i := range items {
		f := b[HeaderSize+recSize*i:]
		var bucket, key []byte
		if bucket, err = take(b, &at, le.Uint32(f[0:])); err != nil {
			return nil, err
		}
		if key, err = take(b, &at, le.Uint32(f[4:])); err != nil {
			return nil, err
		}
		size := int64(le.Uint64(f[8:]))
		if size < 0 {
			return nil, formatErr("item %d: negative size %d", i, size)
		}
		items[i] = Item{Bucket: string(bucket), Key: string(key), Size: size}
		if magic == ItemsETagMagic {
			if le.Uint32(f[20:]) != 0 {
				return nil, formatErr("item %d: reserved field is not 0", i)
			}
			etag, err := take(b, &at, le.Uint32(f[16:]))
			if err != nil {
				return nil, err
			}
			items[i].ETag = string(etag)
			withETag = withETag || len(etag) > 0
		}
	}
	if magic == ItemsETagMagic && !withETag {
		// one reading per buffer: items without ETags are written as OSI1
		return nil, formatErr("an OSI2 items buffer without any ETag")
	}
	if at != len(b) {
		return nil, formatErr("%d bytes after the last string", len(b)-at)
	}
	return items, nil
}
