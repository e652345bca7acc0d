package fastcrc

// minFold is the shortest input folded with PCLMULQDQ: four blocks to start
// the four accumulators; shorter ones go through the table.
const minFold = 64

var haveCLMUL = cpuHasCLMUL()

// cpuHasCLMUL reports CPUID.1:ECX.PCLMULQDQ (bit 1); the rest of the fold
// is SSE2, which every amd64 CPU has.
func cpuHasCLMUL() bool { return cpuid1ECX()&(1<<1) != 0 }

func cpuid1ECX() uint32

// fold returns 128 bits congruent to p (len a multiple of 16, at least
// minFold) with s XORed into its first 8 bytes, modulo the polynomial: low
// then high quadword, as the bytes would load little-endian.
//
//go:noescape
func fold(s uint64, p []byte, k *[8]uint64) (lo, hi uint64)
