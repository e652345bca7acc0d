// Package tarindex builds, encodes and checks the index that lets datasets
// read single members of a tar archive on OSS with ranged reads.
//
// Upstream's index format is not public; this one is ours, versioned:
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
	Offset int64 // of its data in the tar
	Size   int64
	CRC64  uint64 // of its data; meaningful when the index HasCRC
}

// Index describes an archive.
type Index struct {
	TarSize int64
	TarETag string
	Members []Member
	HasCRC  bool // members carry checksums (every index Build makes; version 2)
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
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar at byte %d: %w", cr.n, err)
		}
		// archive/tar reads whole 512-byte blocks and no further, so the
		// count is where this member's data starts.
		start := cr.n
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
			sum := crc64.New(crcTable)
			if _, err := io.Copy(sum, tr); err != nil {
				return nil, fmt.Errorf("reading member %q at byte %d: %w", h.Name, cr.n, err)
			}
			ix.Members = append(ix.Members, Member{Name: h.Name, Offset: start, Size: h.Size, CRC64: sum.Sum64()})
		}
	}
	io.Copy(io.Discard, cr) // trailing zero blocks count toward the size
	ix.TarSize = cr.n
	return ix, nil
}

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
	ix := &Index{HasCRC: v >= 2}
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
		m := Member{Name: name, Offset: int64(off), Size: int64(sz)}
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

// Span is the byte range that holds members [i, j]: one ranged read.
func (ix *Index) Span(i, j int) (off, n int64) {
	a, b := ix.Members[i], ix.Members[j]
	return a.Offset, b.Offset + b.Size - a.Offset
}
