package tarindex

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"strings"
	"testing"
)

func makeTar(t *testing.T, format tar.Format, names []string) ([]byte, map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	contents := map[string][]byte{}
	tw.WriteHeader(&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755, Format: format})
	for i, n := range names {
		data := bytes.Repeat([]byte{byte(i)}, 100+i*37)
		contents[n] = data
		if err := tw.WriteHeader(&tar.Header{Name: n, Size: int64(len(data)), Mode: 0o644, Typeflag: tar.TypeReg, Format: format}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.WriteHeader(&tar.Header{Name: "link", Linkname: names[0], Typeflag: tar.TypeSymlink, Format: format})
	tw.Close()
	return buf.Bytes(), contents
}

func TestBuildFindsEveryRegularFileInEveryFormat(t *testing.T) {
	long := "deep/" + strings.Repeat("very-long-directory-name/", 8) + "file.bin" // > 100 bytes
	names := []string{"a.txt", "b/c.jpg", long, "ü-unicode.bin"}
	for _, f := range []tar.Format{tar.FormatPAX, tar.FormatGNU, tar.FormatUSTAR} {
		ns := names
		if f == tar.FormatUSTAR {
			ns = []string{"a.txt", "b/c.jpg", "deep/" + strings.Repeat("x", 90) + "/f.bin"} // ustar: prefix field
		}
		raw, contents := makeTar(t, f, ns)
		ix, err := Build(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if len(ix.Members) != len(ns) || ix.TarSize != int64(len(raw)) {
			t.Fatalf("%v: %d members, size %d (tar %d)", f, len(ix.Members), ix.TarSize, len(raw))
		}
		for i, m := range ix.Members {
			if m.Name != ns[i] || !bytes.Equal(raw[m.Offset:m.Offset+m.Size], contents[m.Name]) {
				t.Fatalf("%v: member %d %q at %d+%d does not hold its bytes", f, i, m.Name, m.Offset, m.Size)
			}
			if !ix.HasCRC || m.CRC64 != crc64.Checksum(contents[m.Name], crcTable) || !ix.Check(i, contents[m.Name]) {
				t.Fatalf("%v: member %d %q: crc64 %d is not its data's", f, i, m.Name, m.CRC64)
			}
			damaged := bytes.Clone(contents[m.Name])
			damaged[len(damaged)/2] ^= 1
			if ix.Check(i, damaged) {
				t.Fatalf("%v: member %d: a flipped bit passes the check", f, i)
			}
		}
		off, n := ix.Span(0, len(ix.Members)-1)
		last := ix.Members[len(ix.Members)-1]
		if off != ix.Members[0].Offset || off+n != last.Offset+last.Size {
			t.Fatalf("span %d+%d", off, n)
		}
	}
}

func TestMarshalParseRoundTripAndCorruption(t *testing.T) {
	raw, _ := makeTar(t, tar.FormatPAX, []string{"x", "y/z", "w"})
	ix, _ := Build(bytes.NewReader(raw))
	ix.TarETag = `"ABC-2"`
	enc := ix.Marshal()
	back, err := Parse(enc)
	// our encoding does not keep where headers start (upstream's does)
	for i := range ix.Members {
		ix.Members[i].Header = -1
	}
	ix.End = -1
	if err != nil || fmt.Sprint(back) != fmt.Sprint(ix) {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for i := range enc { // any single flipped byte is caught
		bad := bytes.Clone(enc)
		bad[i] ^= 0x40
		if _, err := Parse(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d not detected: %v", i, err)
		}
	}
	for n := 0; n < len(enc); n++ { // and any truncation
		if _, err := Parse(enc[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncation to %d not detected: %v", n, err)
		}
	}
	if _, err := Parse([]byte("not an index at all")); !errors.Is(err, ErrCorrupt) {
		t.Fatal(err)
	}
}

// Indexes written before members had checksums (version 1) still open; they
// say so (HasCRC false), check nothing, and are written back unchanged.
func TestVersion1IndexesStillParse(t *testing.T) {
	raw, _ := makeTar(t, tar.FormatPAX, []string{"x", "y/z"})
	ix, _ := Build(bytes.NewReader(raw))
	ix.HasCRC = false
	enc := ix.Marshal()
	if v := binary.LittleEndian.Uint16(enc[len(Magic):]); v != 1 {
		t.Fatalf("an index without checksums written as version %d", v)
	}
	back, err := Parse(enc)
	if err != nil || back.HasCRC || len(back.Members) != 2 || back.Members[1].CRC64 != 0 {
		t.Fatalf("version 1: %v %+v", err, back)
	}
	if !back.Check(0, []byte("anything")) || !bytes.Equal(back.Marshal(), enc) {
		t.Fatal("version 1 index: Check refused or the round trip changed it")
	}
	ix.HasCRC = true
	if v2 := ix.Marshal(); binary.LittleEndian.Uint16(v2[len(Magic):]) != Version || len(v2) != len(enc)+2*8 {
		t.Fatalf("version 2: %d bytes vs %d for version 1", len(v2), len(enc))
	}
}

// Archives from pre-POSIX tools mark regular files with a NUL type flag
// instead of '0'; they are indexed like any other regular file.
func TestBuildIndexesLegacyNULTypeflagMembers(t *testing.T) {
	raw, contents := makeTar(t, tar.FormatUSTAR, []string{"old.bin"})
	hdr := raw[blockSize : 2*blockSize] // "dir/" comes first
	if hdr[156] != tar.TypeReg {
		t.Fatalf("expected the member's header in the second block, type flag %q", hdr[156])
	}
	hdr[156] = 0
	// the header checksum counts its own field as spaces
	copy(hdr[148:156], "        ")
	sum := 0
	for _, b := range hdr {
		sum += int(b)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	ix, err := Build(bytes.NewReader(raw))
	if err != nil || len(ix.Members) != 1 || ix.Members[0].Name != "old.bin" {
		t.Fatalf("legacy member not indexed: %v %+v", err, ix)
	}
	m := ix.Members[0]
	if !bytes.Equal(raw[m.Offset:m.Offset+m.Size], contents["old.bin"]) {
		t.Fatalf("legacy member at %d+%d does not hold its bytes", m.Offset, m.Size)
	}
}

func TestBuildRejectsANonTar(t *testing.T) {
	if _, err := Build(strings.NewReader(strings.Repeat("garbage!", 200))); err == nil {
		t.Fatal("garbage indexed")
	}
}

func FuzzParse(f *testing.F) {
	raw := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "a", Size: 3, Typeflag: tar.TypeReg})
		tw.Write([]byte("abc"))
		tw.Close()
		ix, _ := Build(&buf)
		return ix.Marshal()
	}()
	f.Add(raw)
	f.Add([]byte(Magic))
	if ix, err := Parse(raw); err == nil { // the same index as version 1
		ix.HasCRC = false
		f.Add(ix.Marshal())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := Parse(data)
		if err != nil {
			return
		}
		for _, m := range ix.Members { // whatever parses is self-consistent
			if m.Offset < 0 || m.Size < 0 || m.Offset+m.Size > ix.TarSize {
				t.Fatalf("accepted an impossible member %+v in a %d-byte tar", m, ix.TarSize)
			}
		}
		if !bytes.Equal(ix.Marshal(), data) {
			t.Fatal("parse/marshal is not the identity on valid input")
		}
	})
}
