package ossemu

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseRange checks parseRange in both modes: it never panics; a range it
// accepts lies inside the object (0 <= start <= end < size); only standard
// mode refuses, and only with 416 InvalidRange; a header that is not
// "bytes=..." means the whole object; and a single range legacy mode accepts
// is accepted unchanged in standard mode (standard only refuses more and
// clamps ends that legacy mode ignores).
func FuzzParseRange(f *testing.F) {
	// The cases of TestRangeRules, against its 1000-byte object and others.
	for _, h := range []string{"bytes=0-499", "bytes=10-10", "bytes=999-999", "bytes=500-", "bytes=-300", "bytes=-1000",
		"bytes=0-1000", "bytes=500-2000", "bytes=1000-2000", "bytes=1000-", "bytes=5000-6000", "bytes=-2000",
		"byte=0-499", "bytes=abc", "bytes=5-2", "bytes=x-5", "items=0-5", "bytes=0-9,20-29", " bytes=3-4 ", "bytes=-",
		"bytes=-0", fmt.Sprintf("bytes=0-%d", int64(1)<<62), "bytes=+5-+9", "bytes=9223372036854775807-", "bytes=-9223372036854775808", ""} {
		for _, size := range []int64{1000, 0, 1} {
			f.Add(h, size, false)
			f.Add(h, size, true)
		}
	}
	f.Fuzz(func(t *testing.T, h string, size int64, standard bool) {
		if size < 0 {
			return // object sizes are never negative
		}
		start, end, ok, e := parseRange(h, size, standard)
		if ok && !(0 <= start && start <= end && end < size) {
			t.Fatalf("%q size %d standard=%v: range %d-%d", h, size, standard, start, end)
		}
		if e != nil {
			if ok || !standard || e.Status != 416 || e.Code != "InvalidRange" {
				t.Fatalf("%q size %d standard=%v: ok=%v error %d %s", h, size, standard, ok, e.Status, e.Code)
			}
		}
		if !strings.HasPrefix(strings.TrimSpace(h), "bytes=") && (ok || e != nil) {
			t.Fatalf("%q is not a byte range, got ok=%v e=%v", h, ok, e)
		}
		if !standard && ok && !strings.Contains(h, ",") {
			s2, e2, ok2, err2 := parseRange(h, size, true)
			if !ok2 || err2 != nil || s2 != start || e2 != end {
				t.Fatalf("%q size %d: legacy %d-%d, standard %d-%d ok=%v %v", h, size, start, end, s2, e2, ok2, err2)
			}
		}
	})
}
