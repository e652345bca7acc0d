package tarindex

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
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
