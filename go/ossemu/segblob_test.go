package ossemu

import (
	"bytes"
	"io"
	"testing"
)

func TestSegBlobReadAtAcrossPieces(t *testing.T) {
	pieces := [][]byte{[]byte("abc"), {}, []byte("defgh"), []byte("i")}
	whole := bytes.Join(pieces, nil)
	b := newSegBlob(pieces)
	for off := 0; off <= len(whole); off++ {
		for n := 0; n <= len(whole)-off+2; n++ {
			p := make([]byte, n)
			got, err := b.ReadAt(p, int64(off))
			want := min(n, len(whole)-off)
			if got != want || !bytes.Equal(p[:got], whole[off:off+want]) {
				t.Fatalf("ReadAt(%d, %d) = %d %q", off, n, got, p[:got])
			}
			if n > 0 && (want < n) != (err == io.EOF) {
				t.Fatalf("ReadAt(%d, %d): err %v", off, n, err)
			}
		}
	}
}
