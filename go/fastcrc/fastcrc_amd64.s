#include "textflag.h"

// func cpuid1ECX() uint32
TEXT ·cpuid1ECX(SB), NOSPLIT, $0-4
	MOVL $1, AX
	XORL CX, CX
	CPUID
	MOVL CX, ret+0(FP)
	RET

// One fold of accumulator A by the constants in K (T scratch), then D XORed
// in: A = A.lo*K.lo ^ A.hi*K.hi ^ D (carry-less).
#define FOLD(A, K, T, D) \
	MOVOU A, T; \
	PCLMULQDQ $0x00, K, A; \
	PCLMULQDQ $0x11, K, T; \
	PXOR T, A; \
	PXOR D, A

// func fold(s uint64, p []byte, k *[8]uint64) (lo, hi uint64)
TEXT ·fold(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ k+32(FP), DX

	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVQ AX, X4
	PXOR X4, X0
	ADDQ $64, SI
	SUBQ $64, CX
	MOVOU 0(DX), X5

loop4:
	CMPQ CX, $64
	JB merge
	MOVOU 0(SI), X8
	MOVOU 16(SI), X9
	MOVOU 32(SI), X10
	MOVOU 48(SI), X11
	FOLD(X0, X5, X12, X8)
	FOLD(X1, X5, X13, X9)
	FOLD(X2, X5, X14, X10)
	FOLD(X3, X5, X15, X11)
	ADDQ $64, SI
	SUBQ $64, CX
	JMP loop4

merge:
	// X0 is 384 bits before the end of X3, X1 256, X2 128.
	MOVOU 16(DX), X5
	FOLD(X0, X5, X12, X3)
	MOVOU 32(DX), X5
	FOLD(X1, X5, X12, X0)
	MOVOU 48(DX), X5
	FOLD(X2, X5, X12, X1)

loop1:
	CMPQ CX, $16
	JB done
	MOVOU 0(SI), X8
	FOLD(X2, X5, X12, X8)
	ADDQ $16, SI
	SUBQ $16, CX
	JMP loop1

done:
	MOVQ X2, AX
	MOVQ AX, lo+40(FP)
	PSRLDQ $8, X2
	MOVQ X2, AX
	MOVQ AX, hi+48(FP)
	RET
