package tarindex

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// UpstreamMagic starts every index that upstream osstorchconnector's
// generate_tar_archive writes.
//
// Its layout, as read from indexes that upstream 1.2.3 wrote and confirmed
// by upstream reading ours (docs/tar-index.md has the details):
//
//	512-byte header, integers little-endian:
//	  [0, 8)      "TarIdx\x00\x00"
//	  [8, 10)     uint16 1 (version)
//	  [10]        1 (zlib-compressed body)
//	  [11]        6 (always 6 in upstream's indexes; not checked)
//	  [12, 20)    uint64 0 (always 0; not checked)
//	  [20, 28)    uint64 length of the compressed body
//	  [28, 36)    uint64 count of body entries: members + 1
//	  [36, 40)    uint32 CRC-32C of the compressed body
//	  [508, 512)  uint32 CRC-32C of the header with these 4 bytes zeroed
//	body: zlib of count uint32 values, in 512-byte blocks: where the first
//	member's headers start, then the distance from each member's headers to
//	the next one's, and last the distance from the last member's headers to
//	the end of the archive's last entry.
//
// Both CRC-32C values are the bare polynomial division: no initial or final
// inversion, unlike the usual CRC-32C.
//
// Upstream checks both CRCs and refuses an index that fails either. Only
// regular files are members; a member's name and size are in its tar
// headers, which a reader parses (Index.Locate).
const UpstreamMagic = "TarIdx\x00\x00"

const (
	upstreamHeaderSize = 512
	upstreamVersion    = 1
	upstreamZlib       = 1
	upstreamLevel      = 6
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// upstreamCRC is the CRC-32C as upstream computes it: crc32.Update inverts
// on the way in and out, so starting from all ones and inverting the
// result leaves the bare division.
func upstreamCRC(p []byte) uint32 {
	return ^crc32.Update(math.MaxUint32, castagnoli, p)
}

// IsUpstream reports whether data starts like an index in upstream's encoding.
func IsUpstream(data []byte) bool {
	return bytes.HasPrefix(data, []byte(UpstreamMagic))
}

// MarshalUpstream encodes the index in upstream's encoding. It needs the
// Header offsets and End that Build records.
func (ix *Index) MarshalUpstream() ([]byte, error) {
	if ix.End < 0 {
		return nil, fmt.Errorf("tarindex: the index has no header offsets (built by Build only)")
	}
	entries := make([]byte, 0, 4*(len(ix.Members)+1))
	prev := int64(0)
	put := func(at int64) error {
		if at%blockSize != 0 || at < prev || (at-prev)/blockSize > math.MaxUint32 {
			return fmt.Errorf("tarindex: header offset %d does not fit upstream's encoding", at)
		}
		entries = binary.LittleEndian.AppendUint32(entries, uint32((at-prev)/blockSize))
		prev = at
		return nil
	}
	for _, m := range ix.Members {
		if err := put(m.Header); err != nil {
			return nil, err
		}
	}
	if err := put(ix.End); err != nil {
		return nil, err
	}
	var body bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&body, upstreamLevel)
	zw.Write(entries)
	zw.Close()

	h := make([]byte, upstreamHeaderSize)
	copy(h, UpstreamMagic)
	binary.LittleEndian.PutUint16(h[8:], upstreamVersion)
	h[10], h[11] = upstreamZlib, upstreamLevel
	binary.LittleEndian.PutUint64(h[20:], uint64(body.Len()))
	binary.LittleEndian.PutUint64(h[28:], uint64(len(ix.Members)+1))
	binary.LittleEndian.PutUint32(h[36:], upstreamCRC(body.Bytes()))
	binary.LittleEndian.PutUint32(h[508:], upstreamCRC(h))
	return append(h, body.Bytes()...), nil
}

// ParseUpstream decodes and checks an index in upstream's encoding. The
// members it returns carry only their Header offsets; TarSize is unknown
// (-1) and End is set.
func ParseUpstream(data []byte) (*Index, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) < upstreamHeaderSize || !IsUpstream(data) {
		return nil, bad("not an upstream tar index (bad magic or too short)")
	}
	h := bytes.Clone(data[:upstreamHeaderSize])
	want := binary.LittleEndian.Uint32(h[508:])
	binary.LittleEndian.PutUint32(h[508:], 0)
	if upstreamCRC(h) != want {
		return nil, bad("header checksum mismatch (truncated or modified)")
	}
	if v := binary.LittleEndian.Uint16(h[8:]); v != upstreamVersion || h[10] != upstreamZlib {
		return nil, bad("unsupported upstream index version %d, compression %d", v, h[10])
	}
	bodyLen, count := binary.LittleEndian.Uint64(h[20:]), binary.LittleEndian.Uint64(h[28:])
	body := data[upstreamHeaderSize:]
	if bodyLen != uint64(len(body)) {
		return nil, bad("body is %d bytes, the header says %d", len(body), bodyLen)
	}
	if upstreamCRC(body) != binary.LittleEndian.Uint32(h[36:]) {
		return nil, bad("body checksum mismatch")
	}
	// zlib expands at most ~1032:1; a count beyond that cannot be in the body
	if count == 0 || count > 1032*uint64(len(body))/4+1 || count > math.MaxInt32 {
		return nil, bad("entry count %d does not fit a %d-byte body", count, len(body))
	}
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, bad("body is not zlib: %v", err)
	}
	raw := make([]byte, 4*count)
	if _, err := io.ReadFull(zr, raw); err != nil {
		return nil, bad("body holds fewer than %d entries: %v", count, err)
	}
	if n, _ := zr.Read(make([]byte, 1)); n != 0 {
		return nil, bad("body holds more than %d entries", count)
	}
	ix := &Index{TarSize: -1, Members: make([]Member, 0, count-1)}
	at := int64(0)
	for i := uint64(0); i < count; i++ {
		d := int64(binary.LittleEndian.Uint32(raw[4*i:]))
		if i > 0 && d == 0 {
			return nil, bad("entry %d: a member takes no blocks", i)
		}
		at += d * blockSize
		if i+1 == count {
			ix.End = at
		} else {
			ix.Members = append(ix.Members, Member{Offset: -1, Size: -1, Header: at})
		}
	}
	return ix, nil
}

// Join fills an upstream index's members from checksum, the index in our
// encoding written beside it (names, data offsets, sizes, CRC-64s), after
// checking that both describe the same archive: the same count of members,
// each one's data inside its bounds.
func (ix *Index) Join(checksum *Index) error {
	if len(checksum.Members) != len(ix.Members) {
		return fmt.Errorf("%w: the checksum file lists %d members, the index %d", ErrCorrupt, len(checksum.Members), len(ix.Members))
	}
	for i, m := range checksum.Members {
		start, end := ix.Bounds(i)
		if m.Offset <= start || m.Offset+m.Size > end {
			return fmt.Errorf("%w: member %d (%q) at [%d, +%d) is outside its bounds [%d, %d) in the index", ErrCorrupt, i, m.Name, m.Offset, m.Size, start, end)
		}
	}
	for i, m := range checksum.Members {
		m.Header = ix.Members[i].Header
		ix.Members[i] = m
	}
	ix.HasCRC, ix.TarSize, ix.TarETag = checksum.HasCRC, checksum.TarSize, checksum.TarETag
	return nil
}
