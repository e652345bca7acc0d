// Package fastcrc computes the CRC-64 that OSS reports in
// x-oss-hash-crc64ecma (ECMA-182 polynomial, reflected, initial value and
// final XOR all ones: what hash/crc64 computes with its ECMA table).
//
// Every byte a checkpoint moves is checksummed once on the client, and the
// table-driven hash/crc64 was the largest single cost of a save or a load.
// On amd64 with carry-less multiplication the bulk of the data is folded 64
// bytes at a time with PCLMULQDQ instead; the results are identical (the
// tests compare them with hash/crc64 over many lengths and alignments).
package fastcrc

import (
	"encoding/binary"
	"hash/crc64"
)

// Poly is the ECMA-182 polynomial without its x^64 term, most significant
// bit first (hash/crc64 uses its reflection).
const Poly = 0x42F0E1EBA9EA3693

var table = crc64.MakeTable(crc64.ECMA)

// Update returns the CRC-64 of the bytes whose CRC is crc followed by p, as
// crc64.Update(crc, crc64.MakeTable(crc64.ECMA), p) does.
func Update(crc uint64, p []byte) uint64 {
	if len(p) >= minFold && haveCLMUL {
		n := len(p) &^ 15
		lo, hi := fold(^crc, p[:n], &foldKeys)
		// The folded 128 bits are congruent to the data (with the initial
		// state mixed into its first 8 bytes); their CRC from a zero state,
		// which the table computes in 16 steps, is the state after the data.
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], lo)
		binary.LittleEndian.PutUint64(b[8:], hi)
		// From an all-ones crc Update starts at state zero, and what it
		// returns is the inverted state: the form crc has, for the tail.
		crc = crc64.Update(^uint64(0), table, b[:])
		p = p[n:]
	}
	return crc64.Update(crc, table, p)
}

// Checksum returns the CRC-64 of p.
func Checksum(p []byte) uint64 { return Update(0, p) }

// Combine returns the CRC-64 of A followed by B from crcA, crcB and the
// length of B. With an all-ones initial value and final XOR this is
// crcA * x^(8 lenB) mod P, XOR crcB: the inversions cancel out.
func Combine(crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 { // B is empty: its CRC is 0 (the SDK ignores crcB here too)
		return crcA
	}
	return mulMod(crcA, xPow8n(uint64(lenB))) ^ crcB
}

// The functions below work on reflected polynomials (bit 63 is x^0, bit 0
// is x^63), as the CRC registers hold them.
const reflPoly = 0xC96C5795D7870F42 // Poly reflected (a test checks it)

// mulMod returns a*b mod P.
func mulMod(a, b uint64) uint64 {
	var r uint64
	for i := 0; i < 64 && b != 0; i++ {
		if b&(1<<63) != 0 { // the x^i coefficient of b, from x^0 up
			r ^= a
		}
		b <<= 1
		// a *= x
		if a&1 != 0 {
			a = a>>1 ^ reflPoly
		} else {
			a >>= 1
		}
	}
	return r
}

// xPowers[k] is x^(8 * 2^k) mod P.
var xPowers = func() (t [64]uint64) {
	t[0] = xPow(8)
	for k := 1; k < 64; k++ {
		t[k] = mulMod(t[k-1], t[k-1])
	}
	return t
}()

// xPow8n returns x^(8n) mod P.
func xPow8n(n uint64) uint64 {
	r := uint64(1) << 63 // x^0
	for k := 0; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			r = mulMod(r, xPowers[k])
		}
	}
	return r
}

// xPow returns x^n mod P (n small: the folding constants).
func xPow(n int) uint64 {
	r := uint64(1) << 63
	for range n {
		if r&1 != 0 {
			r = r>>1 ^ reflPoly
		} else {
			r >>= 1
		}
	}
	return r
}

// foldKeys are the constants of fold, in the order it loads them: for a
// fold over d bits, the multipliers of the high-degree and the low-degree
// half of a 128-bit block, x^(d+63) and x^(d-1) mod P (one less than the
// distance: the product of two reflected 64-bit values comes out one bit
// lower than its 128-bit place).
var foldKeys = [8]uint64{
	xPow(512 + 63), xPow(512 - 1),
	xPow(384 + 63), xPow(384 - 1),
	xPow(256 + 63), xPow(256 - 1),
	xPow(128 + 63), xPow(128 - 1),
}
