package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Set with -ldflags "-X main.version=... -X main.flavor=...". flavor makes the
// fork copy of the library byte-different from the primary, so that no file
// deduplication can hardlink them (dlopen would then return the same handle).
var (
	version = "0.0.0-dev"
	flavor  = "primary"
)

var (
	versionC = C.CString(version)
	flavorC  = C.CString(flavor)
)

//export ost_version
func ost_version() *C.char { return versionC }

//export ost_build_flavor
func ost_build_flavor() *C.char { return flavorC }

// ost_runtime_stats reports the library's own footprint (goroutines, Go heap,
// live handles) as JSON, so that soak runs and leak tests can see growth that
// the process RSS would hide or blur.
//
//export ost_runtime_stats
func ost_runtime_stats() *C.char {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	raw, _ := jsonAPI.Marshal(map[string]any{
		"goroutines":   runtime.NumGoroutine(),
		"heap_alloc":   ms.HeapAlloc,
		"heap_sys":     ms.HeapSys,
		"sys":          ms.Sys,
		"num_gc":       ms.NumGC,
		"handles":      liveHandles(),
		"go_max_procs": runtime.GOMAXPROCS(0),
	})
	p, _ := cBytes(raw)
	return p
}

// ost_free is libc's free: everything this library hands over is malloc'd,
// so a forked child, where the Go runtime must not be entered, frees with
// free() directly.
//
//export ost_free
func ost_free(p unsafe.Pointer) { C.free(p) }
