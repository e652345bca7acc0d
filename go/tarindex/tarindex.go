// Package tarindex builds, encodes and checks the indexes that let datasets
// read single members of a tar archive on OSS with ranged reads.
//
// Two encodings exist. Upstream osstorchconnector's ("TarIdx", see
// upstream.go) holds only where each member's headers start; it is what
// generate_tar_archive writes, so that either connector reads the other's
// shards. Ours ("OSTARIDX", below) also holds names, data offsets, sizes and
// a CRC-64 per member; it is written beside an upstream index as its member
// checksum file, and older indexes of ours are in it:
//
//	magic   "OSTARIDX"            8 bytes
//	version uint16 LE             2 (1: members without crc64)
//	tar size, count               uvarints
//	tar etag                      uvarint length + bytes ("" if unknown)
//	members, count times:         uvarint name length, name, uvarint data
//	                              offset, uvarint size, crc64 of the
//	                              member's data uint64 LE (version 2)
//	crc                           CRC-64/XZ of everything above, uint64 LE
//
// Members are read with ranged GETs, and OSS returns no checksum for a range:
// the per-member CRC-64 (the same polynomial OSS uses for whole objects) is
// what lets a reader notice bytes damaged on the way.
//
// Only regular files are indexed, in archive order. A member's data is
// [offset, offset+size) of the tar; the headers of the next member follow
// it, so members i..j can be fetched with one ranged read of
// [offset_i, offset_j+size_j).
package tarindex

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
)

// Magic starts every index.
const Magic = "OSTARIDX"

// Version is the format version Marshal writes for indexes with member
// checksums; an index parsed from version 1 is written back as version 1.
const Version = 2

var crcTable = crc64.MakeTable(crc64.ECMA)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt tar index")

// Member is one regular file of the archive.
type Member struct {
	Name   string
	Offset int64 // of its data in the tar; -1 when unknown (an upstream index alone)
	Size   int64
	CRC64  uint64 // of its data; meaningful when the index HasCRC
	// Header is where its first header block starts (PAX and GNU extension
	// headers included); -1 when unknown (indexes in our encoding).
	Header int64
}

// Index describes an archive.
type Index struct {
	TarSize int64 // -1 when unknown (an upstream index alone)
	TarETag string
	Members []Member
	HasCRC  bool // members carry checksums (every index Build makes; version 2)
	// End is where the blocks of the archive's last entry (of any type) end,
	// before the closing zero blocks; -1 when unknown. With the members'
	// Header offsets it bounds each member: member i lies in
	// [Header_i, Header_i+1), the last one in [Header_last, End).
	End int64
}

// Located reports whether members carry their name, data offset and size
// (ours, or an upstream index joined with its checksum file). Without them
// a reader finds each member's name and data by parsing its tar headers.
func (ix *Index) Located() bool {
	return len(ix.Members) == 0 || ix.Members[0].Offset >= 0
}

// Bounds is the byte range that holds member i's headers and data: from
// its first header block to the next member's (or the archive's end).
func (ix *Index) Bounds(i int) (start, end int64) {
	start = ix.Members[i].Header
	if i+1 < len(ix.Members) {
		return start, ix.Members[i+1].Header
	}
	return start, ix.End
}

// Check reports whether data is member i's, by its CRC-64 (always true for
// an index without checksums).
func (ix *Index) Check(i int, data []byte) bool {
	return !ix.HasCRC || crc64.Checksum(data, crcTable) == ix.Members[i].CRC64
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Build reads a tar stream and indexes its regular files. Any tar format Go
// reads (ustar, GNU and PAX long names) is accepted.
func Build(r io.Reader) (*Index, error) {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	ix := &Index{HasCRC: true}
	var next int64 // where the next entry's first header block starts
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar at byte %d: %w", cr.n, err)
		}
		// archive/tar reads whole 512-byte blocks and no further, so the
		// count is where this entry's data starts.
		header, start := next, cr.n
		sum := crc64.New(crcTable)
		// every entry is read to its end (zero bytes for directories and
		// links), so the count then says where its padded blocks end
		if _, err := io.Copy(sum, tr); err != nil {
			return nil, fmt.Errorf("reading member %q at byte %d: %w", h.Name, cr.n, err)
		}
		next = (cr.n + blockSize - 1) / blockSize * blockSize
		if isRegular(h.Typeflag) {
			ix.Members = append(ix.Members, Member{Name: h.Name, Offset: start, Size: h.Size, CRC64: sum.Sum64(), Header: header})
		}
	}
	ix.End = next
	io.Copy(io.Discard, cr) // trailing zero blocks count toward the size
	ix.TarSize = cr.n
	return ix, nil
}

const blockSize = 512

// isRegular says whether a member is a regular file. archive/tar already
// reports the pre-POSIX NUL type flag of old archives as TypeReg, so that one
// value covers both.
func isRegular(flag byte) bool { return flag == tar.TypeReg }

// Marshal encodes the index.
func (ix *Index) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	version := uint16(1)
	if ix.HasCRC {
		version = Version
	}
	binary.Write(&b, binary.LittleEndian, version)
	uv := func(v uint64) {
		var tmp [binary.MaxVarintLen64]byte
		b.Write(tmp[:binary.PutUvarint(tmp[:], v)])
	}
	uv(uint64(ix.TarSize))
	uv(uint64(len(ix.Members)))
	uv(uint64(len(ix.TarETag)))
	b.WriteString(ix.TarETag)
	for _, m := range ix.Members {
		uv(uint64(len(m.Name)))
		b.WriteString(m.Name)
		uv(uint64(m.Offset))
		uv(uint64(m.Size))
		if ix.HasCRC {
			binary.Write(&b, binary.LittleEndian, m.CRC64)
		}
	}
	sum := crc64.Checksum(b.Bytes(), crcTable)
	binary.Write(&b, binary.LittleEndian, sum)
	return b.Bytes()
}

// Parse decodes and checks an index: magic, version, checksum, and that
// every member lies inside the tar, after the previous one.
func Parse(data []byte) (*Index, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if len(data) < len(Magic)+2+8 || string(data[:len(Magic)]) != Magic {
		return nil, bad("not a tar index (bad magic or too short)")
	}
	body, tail := data[:len(data)-8], data[len(data)-8:]
	if crc64.Checksum(body, crcTable) != binary.LittleEndian.Uint64(tail) {
		return nil, bad("checksum mismatch (truncated or modified)")
	}
	v := binary.LittleEndian.Uint16(body[len(Magic):])
	if v != 1 && v != Version {
		return nil, bad("unsupported version %d (this reader knows 1 and %d)", v, Version)
	}
	p := body[len(Magic)+2:]
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, bad("truncated %s", what)
		}
		p = p[n:]
		return v, nil
	}
	str := func(what string) (string, error) {
		n, err := uv(what + " length")
		if err != nil {
			return "", err
		}
		if n > uint64(len(p)) {
			return "", bad("%s longer than the index", what)
		}
		s := string(p[:n])
		p = p[n:]
		return s, nil
	}
	ix := &Index{HasCRC: v >= 2, End: -1}
	size, err := uv("tar size")
	if err != nil {
		return nil, err
	}
	count, err := uv("member count")
	if err != nil {
		return nil, err
	}
	if count > uint64(len(p)) { // every member takes at least 3 bytes
		return nil, bad("member count %d too large for the index", count)
	}
	if ix.TarETag, err = str("tar etag"); err != nil {
		return nil, err
	}
	ix.TarSize = int64(size)
	ix.Members = make([]Member, 0, count)
	var prevEnd uint64
	for i := uint64(0); i < count; i++ {
		name, err := str("member name")
		if err != nil {
			return nil, err
		}
		off, err := uv("member offset")
		if err != nil {
			return nil, err
		}
		sz, err := uv("member size")
		if err != nil {
			return nil, err
		}
		if off < prevEnd || off > size || sz > size-off {
			return nil, bad("member %d (%q) at [%d, +%d) is outside the tar or overlaps the previous one", i, name, off, sz)
		}
		prevEnd = off + sz
		m := Member{Name: name, Offset: int64(off), Size: int64(sz), Header: -1}
		if ix.HasCRC {
			if len(p) < 8 {
				return nil, bad("truncated member crc64")
			}
			m.CRC64, p = binary.LittleEndian.Uint64(p), p[8:]
		}
		ix.Members = append(ix.Members, m)
	}
	if len(p) != 0 {
		return nil, bad("%d unexpected bytes after the members", len(p))
	}
	return ix, nil
}

// Span is the byte range that holds members [i, j]: one ranged read. For a
// located index it runs from member i's data to the end of member j's; else
// from member i's headers to where member j's bounds end.
func (ix *Index) Span(i, j int) (off, n int64) {
	if !ix.Located() {
		start, _ := ix.Bounds(i)
		_, end := ix.Bounds(j)
		return start, end - start
	}
	a, b := ix.Members[i], ix.Members[j]
	return a.Offset, b.Offset + b.Size - a.Offset
}

// Locate finds member i's name and data in buf, which holds the tar from
// byte off and covers the member's bounds: it parses the member's headers
// (ustar, PAX or GNU) up to its first regular file.
func (ix *Index) Locate(buf []byte, off int64, i int) (name string, data []byte, err error) {
	if ix.Located() {
		m := ix.Members[i]
		return m.Name, buf[m.Offset-off : m.Offset-off+m.Size : m.Offset-off+m.Size], nil
	}
	start, end := ix.Bounds(i)
	part := buf[start-off : end-off]
	cr := &countingReader{r: bytes.NewReader(part)}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", nil, fmt.Errorf("%w: no regular file in the bytes [%d, %d) the index gives member %d: %v", ErrCorrupt, start, end, i, err)
		}
		if !isRegular(h.Typeflag) {
			continue
		}
		at := cr.n
		if h.Size > int64(len(part))-at {
			return "", nil, fmt.Errorf("%w: member %d (%q) runs past the bytes [%d, %d) the index gives it", ErrCorrupt, i, h.Name, start, end)
		}
		return h.Name, part[at : at+h.Size : at+h.Size], nil
	}
}
