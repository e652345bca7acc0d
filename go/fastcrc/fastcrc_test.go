package fastcrc

import (
	"hash/crc64"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

var ecma = crc64.MakeTable(crc64.ECMA)

func TestReflectedPoly(t *testing.T) {
	if bits.Reverse64(Poly) != reflPoly {
		t.Fatalf("reflPoly %#x, want %#x", uint64(reflPoly), bits.Reverse64(Poly))
	}
}

// Every length from 0 to a few hundred bytes (all the fold's remainders and
// block counts), at every alignment, from several initial CRCs.
func TestUpdateMatchesHashCRC64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1024)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for _, init := range []uint64{0, 1, ^uint64(0), 0x0123456789abcdef} {
		for off := range 16 {
			for n := 0; off+n <= 400; n++ {
				p := buf[off : off+n]
				if got, want := Update(init, p), crc64.Update(init, ecma, p); got != want {
					t.Fatalf("Update(%#x, %d bytes at %d) = %#x, want %#x", init, n, off, got, want)
				}
			}
		}
	}
}

func TestUpdateLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1 << 20, 8<<20 + 13, 3<<20 - 1} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		if got, want := Checksum(p), crc64.Checksum(p, ecma); got != want {
			t.Fatalf("Checksum of %d bytes = %#x, want %#x", n, got, want)
		}
		// in pieces, as a stream arrives
		crc := uint64(0)
		for rest := p; len(rest) > 0; {
			k := min(len(rest), 1+int(r.Uint32()%100000))
			crc, rest = Update(crc, rest[:k]), rest[k:]
		}
		if want := crc64.Checksum(p, ecma); crc != want {
			t.Fatalf("streamed CRC of %d bytes = %#x, want %#x", n, crc, want)
		}
	}
}

// A single flipped bit anywhere changes the result (the fold is not
// skipping or double-counting any block).
func TestEveryBitCounts(t *testing.T) {
	p := make([]byte, 300)
	base := Checksum(p)
	for i := range len(p) * 8 {
		p[i/8] ^= 1 << (i % 8)
		if Checksum(p) == base {
			t.Fatalf("flipping bit %d left the CRC unchanged", i)
		}
		if got, want := Checksum(p), crc64.Checksum(p, ecma); got != want {
			t.Fatalf("bit %d: %#x, want %#x", i, got, want)
		}
		p[i/8] ^= 1 << (i % 8)
	}
}

func TestCombineMatchesSDK(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		a, b := r.Uint64(), r.Uint64()
		n := int64(r.Uint64N(1 << 34))
		if r.IntN(10) == 0 {
			n = int64(r.IntN(20))
		}
		if got, want := Combine(a, b, n), oss.CRC64Combine(a, b, uint64(n)); got != want {
			t.Fatalf("Combine(%#x, %#x, %d) = %#x, SDK says %#x", a, b, n, got, want)
		}
	}
}

func TestCombineOfPieces(t *testing.T) {
	p := make([]byte, 100000)
	for i := range p {
		p[i] = byte(i * 7)
	}
	for _, cut := range []int{0, 1, 63, 64, 4096, 99999, 100000} {
		if got, want := Combine(Checksum(p[:cut]), Checksum(p[cut:]), int64(len(p)-cut)), Checksum(p); got != want {
			t.Fatalf("cut at %d: %#x, want %#x", cut, got, want)
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	p := make([]byte, 8<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Checksum(p)
	}
}

func BenchmarkHashCRC64(b *testing.B) {
	p := make([]byte, 8<<20)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		crc64.Checksum(p, ecma)
	}
}

func BenchmarkCombine(b *testing.B) {
	for b.Loop() {
		Combine(1, 2, 8<<20)
	}
}
