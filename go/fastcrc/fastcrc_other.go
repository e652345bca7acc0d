//go:build !amd64

package fastcrc

const minFold = 64

const haveCLMUL = false

func fold(s uint64, p []byte, k *[8]uint64) (lo, hi uint64) { panic("fastcrc: no carry-less multiply") }
