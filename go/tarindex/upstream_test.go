package tarindex

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// testdata/upstream holds tars and the indexes upstream osstorchconnector
// 1.2.3 wrote for them (generate_tar_archive over an OSS prefix: three,
// gold; over a local folder: local; index_only over tars made by Python's
// tarfile: pax, gnu, empty), and members.json: what upstream's
// OssMapDataset.from_tar reported for each member (key, size, label,
// sha256 of the bytes).
var goldenNames = []string{"three", "gold", "pax", "gnu", "empty", "local"}

func golden(t *testing.T, name string) (tarBytes, index []byte, want [][]any) {
	t.Helper()
	dir := filepath.Join("testdata", "upstream")
	var err error
	if tarBytes, err = os.ReadFile(filepath.Join(dir, name+".tar")); err != nil {
		t.Fatal(err)
	}
	if index, err = os.ReadFile(filepath.Join(dir, name+".idx")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "members.json"))
	if err != nil {
		t.Fatal(err)
	}
	all := map[string][][]any{}
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	return tarBytes, index, all[name]
}

// readAll reads every member the way a dataset does: one span for the
// whole archive, then each member located in it.
func readAll(t *testing.T, ix *Index, tarBytes []byte) (names []string, datas [][]byte) {
	t.Helper()
	if len(ix.Members) == 0 {
		return nil, nil
	}
	off, n := ix.Span(0, len(ix.Members)-1)
	buf := tarBytes[off : off+n]
	for i := range ix.Members {
		name, data, err := ix.Locate(buf, off, i)
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		names, datas = append(names, name), append(datas, data)
	}
	return names, datas
}

func checkAsUpstreamReports(t *testing.T, name string, ix *Index, tarBytes []byte, want [][]any) {
	t.Helper()
	names, datas := readAll(t, ix, tarBytes)
	if len(names) != len(want) {
		t.Fatalf("%s: %d members, upstream reports %d", name, len(names), len(want))
	}
	for i, w := range want {
		sum := sha256.Sum256(datas[i])
		got := []any{names[i], float64(len(datas[i])), strconv.Itoa(i), hex.EncodeToString(sum[:])}
		for k := range w {
			if got[k] != w[k] {
				t.Fatalf("%s: member %d is %v, upstream reports %v", name, i, got, w)
			}
		}
	}
}

func TestUpstreamIndexesReadAsUpstreamReadsThem(t *testing.T) {
	for _, name := range goldenNames {
		tarBytes, index, want := golden(t, name)
		ix, err := ParseUpstream(index)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ix.Located() && len(ix.Members) > 0 {
			t.Fatalf("%s: an upstream index alone cannot know data offsets", name)
		}
		checkAsUpstreamReports(t, name, ix, tarBytes, want)
	}
}

// sameAsUpstream checks that ours holds what upstream's does: the same
// header fields and the same entries. The compressed bytes differ (Go's
// deflate is not zlib's), so the body's length and CRC may too.
func sameAsUpstream(t *testing.T, name string, ours, upstream []byte) {
	t.Helper()
	a, b := bytes.Clone(ours[:upstreamHeaderSize]), bytes.Clone(upstream[:upstreamHeaderSize])
	for _, h := range [][]byte{a, b} {
		clear(h[20:28])
		clear(h[36:40])
		clear(h[508:512])
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: header differs from upstream's\nours %x\nupstream %x", name, a, b)
	}
	inflate := func(p []byte) []byte {
		zr, err := zlib.NewReader(bytes.NewReader(p[upstreamHeaderSize:]))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if x, y := inflate(ours), inflate(upstream); !bytes.Equal(x, y) {
		t.Fatalf("%s: entries differ from upstream's\nours %x\nupstream %x", name, x, y)
	}
}

func TestUpstreamEncodingIsWhatUpstreamWrites(t *testing.T) {
	// Build over upstream's own tars, then encode: the index upstream wrote
	// (up to how deflate packs it), so upstream reads ours. That it does is
	// checked against upstream itself by tests/compat.
	for _, name := range goldenNames {
		tarBytes, index, want := golden(t, name)
		ix, err := Build(bytes.NewReader(tarBytes))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		enc, err := ix.MarshalUpstream()
		if err != nil {
			t.Fatal(err)
		}
		sameAsUpstream(t, name, enc, index)
		// and joined with our checksum file, it locates members directly
		up, _ := ParseUpstream(enc)
		back, err := Parse(ix.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Join(back); err != nil {
			t.Fatalf("%s: join: %v", name, err)
		}
		if !up.Located() || !up.HasCRC || up.TarSize != int64(len(tarBytes)) {
			t.Fatalf("%s: joined index: located %v, crc %v, size %d", name, up.Located(), up.HasCRC, up.TarSize)
		}
		checkAsUpstreamReports(t, name, up, tarBytes, want)
	}
}

func TestUpstreamIndexCorruptionIsRefused(t *testing.T) {
	_, index, _ := golden(t, "gold")
	for i := range index {
		bad := bytes.Clone(index)
		bad[i] ^= 0x10
		if _, err := ParseUpstream(bad); err == nil {
			// bytes 11 and 12..19 are not checked by upstream either, but
			// they are under the header's CRC
			t.Fatalf("a flipped byte at %d was accepted", i)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d: %v is not ErrCorrupt", i, err)
		}
	}
	for n := 0; n < len(index); n += 37 {
		if _, err := ParseUpstream(index[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
}

func TestJoinRefusesAChecksumFileOfAnotherArchive(t *testing.T) {
	tarBytes, index, _ := golden(t, "gold")
	up, _ := ParseUpstream(index)
	other, _, _ := golden(t, "pax")
	ixOther, _ := Build(bytes.NewReader(other))
	if err := up.Join(ixOther); err == nil {
		t.Fatal("a checksum file with another member count was joined")
	}
	// same count, shifted offsets: outside the bounds
	ix, _ := Build(bytes.NewReader(tarBytes))
	for i := range ix.Members {
		ix.Members[i].Offset += 4096
	}
	if err := up.Join(ix); err == nil || up.Located() {
		t.Fatal("a checksum file whose members lie outside the index's bounds was joined")
	}
}

func TestLocateRefusesBoundsWithoutAFile(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "d/", Typeflag: tar.TypeDir})
	tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 2000})
	tw.Write(make([]byte, 2000))
	tw.Close()
	raw := buf.Bytes()
	// bounds that hold only the directory, and bounds that cut the file short
	for _, bounds := range [][2]int64{{0, 512}, {512, 1536}} {
		ix := &Index{TarSize: -1, End: bounds[1], Members: []Member{{Offset: -1, Size: -1, Header: bounds[0]}}}
		if _, _, err := ix.Locate(raw[bounds[0]:bounds[1]], bounds[0], 0); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bounds %v: %v", bounds, err)
		}
	}
}

func FuzzParseUpstream(f *testing.F) {
	for _, name := range goldenNames {
		b, err := os.ReadFile(filepath.Join("testdata", "upstream", name+".idx"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	// fix: make both CRCs right, so that inputs reach the decoding behind them
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix && len(data) >= upstreamHeaderSize {
			data = bytes.Clone(data)
			binary.LittleEndian.PutUint64(data[20:], uint64(len(data)-upstreamHeaderSize))
			binary.LittleEndian.PutUint32(data[36:], upstreamCRC(data[upstreamHeaderSize:]))
			binary.LittleEndian.PutUint32(data[508:], 0)
			binary.LittleEndian.PutUint32(data[508:], upstreamCRC(data[:upstreamHeaderSize]))
		}
		ix, err := ParseUpstream(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not wrapping ErrCorrupt: %v", err)
			}
			return
		}
		// what parses encodes back to the same bytes, apart from the two
		// fields upstream leaves unchecked
		enc, err := ix.MarshalUpstream()
		if err != nil {
			t.Fatalf("parsed but cannot encode: %v", err)
		}
		if len(enc) < upstreamHeaderSize || binary.LittleEndian.Uint64(enc[28:]) != binary.LittleEndian.Uint64(data[28:]) {
			t.Fatalf("entry count changed on the way back")
		}
		prev := int64(-1)
		for _, m := range ix.Members {
			if m.Header <= prev || m.Header%blockSize != 0 {
				t.Fatalf("member headers not increasing by whole blocks: %+v", ix.Members)
			}
			prev = m.Header
		}
		if ix.End <= prev && len(ix.Members) > 0 {
			t.Fatalf("end %d before the last member %d", ix.End, prev)
		}
	})
}
