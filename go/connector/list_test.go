package connector

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"osstorchconnector/go/ossemu"
)

func TestListSequentialAndFastListAgree(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	var want []string
	for i := 0; i < 2500; i++ {
		k := fmt.Sprintf("ds/%c/%05d.jpg", 'a'+i%7, i)
		want = append(want, k)
		e.srv.CreateBucket(tBucket)
	}
	// seed through the server directly to keep the test quick
	for _, k := range want {
		e.put(t, c, k, []byte(k))
	}
	e.put(t, c, "other/x", []byte("x"))
	sort.Strings(want)
	collect := func(c *Client) []string {
		var got []string
		if err := c.List(bg, tBucket, "ds/", func(o ObjectInfo) error {
			if o.Size != int64(len(o.Key)) {
				t.Fatalf("size of %s: %d", o.Key, o.Size)
			}
			got = append(got, o.Key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := collect(c); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sequential list: %d keys, want %d", len(got), len(want))
	}
	fast := e.client(t, `,"datasetConfig":{"enableFastList":true,"listConcurrency":8}`)
	e.srv.ResetStats()
	if got := collect(fast); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FastList: %d keys, want %d", len(got), len(want))
	}
}

// FastList must actually list in parallel on the keys datasets have: numbered
// names use ten byte values, so a split at the byte-wise midpoint of the last
// key and the end of the key space lies above every key (what the first
// FastList did: each split handed out an empty range, and the listing stayed
// sequential). Edge cases ride along: keys with high UTF-8 bytes, a key equal
// to the prefix, neighbours outside the prefix, a page boundary.
func TestFastListSplitsNumberedKeys(t *testing.T) {
	e := newEnv(t)
	want := append(numbered("ds/%06d.jpg", 40000), "ds/", "ds/\u00e9t\u00e9.jpg", "ds/~x", "ds/ space")
	e.seedKeys(t, append([]string{"dr/1", "ds", "ds0/1", "dt/\u00e9"}, want...))
	sort.Strings(want)
	e.faults(t, ossemu.Faults{LatencyMs: 10}) // every request waits: what runs in parallel shows
	fast := e.client(t, `,"datasetConfig":{"enableFastList":true,"listConcurrency":8}`)
	e.srv.ResetStats()
	sameKeys(t, listKeys(t, fast, "ds/"), want)
	st := e.srv.Stats()
	pages := int64(len(want)/listPageSize + 1)
	reqs := st.Count("ListObjectsV2", 0)
	t.Logf("%d list requests (%d pages sequentially), peak %d in flight", reqs, pages, st.PeakConcurrent)
	if st.PeakConcurrent < 5 {
		t.Errorf("peak %d list requests in flight with listConcurrency 8: the key range was not split", st.PeakConcurrent)
	}
	if reqs > 4*pages {
		t.Errorf("%d list requests for %d pages: splitting costs more than it saves", reqs, pages)
	}
}

// sameKeys fails t unless FastList's got is want, key for key.
func sameKeys(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FastList: %d keys, want %d (first difference near %v)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("index %d (one is a prefix of the other)", min(len(a), len(b)))
}

func TestMidpoint(t *testing.T) {
	for _, c := range [][2]string{{"a", "b"}, {"ds/a/1", "ds/\xff"}, {"", "\xff"}, {"x/0999", "x/1000"}} {
		m := midpoint(c[0], c[1])
		if !(c[0] < m && m < c[1]) {
			t.Errorf("midpoint(%q, %q) = %q is not between", c[0], c[1], m)
		}
	}
}

// A listing of a few thousand keys ends before the bisecting splitter's
// sequential probes find a cut: FastList would be as slow as sequential
// pages (what shuffled epochs waited for). The first page's cuts must put
// every remaining page in flight at once, with no probes.
func TestFastListCutsTheFirstPage(t *testing.T) {
	e := newEnv(t)
	const n = 6000
	want := numbered("r1/img-%07d.jpg", n)
	e.seedKeys(t, append([]string{"r0/x", "r2/x"}, want...))
	e.faults(t, ossemu.Faults{LatencyMs: 20}) // every request waits: what runs in parallel shows
	fast := e.client(t, `,"datasetConfig":{"listConcurrency":16}`)
	e.srv.ResetStats()
	sameKeys(t, listKeys(t, fast, "r1/", ListConcurrently()), want)
	st := e.srv.Stats()
	reqs := st.Count("ListObjectsV2", 0)
	t.Logf("%d list requests (%d pages sequentially), peak %d in flight", reqs, n/listPageSize, st.PeakConcurrent)
	if st.PeakConcurrent < n/listPageSize-1 {
		t.Errorf("peak %d list requests in flight: the pages after the first were not all asked for at once", st.PeakConcurrent)
	}
	// counted keys: each guessed range is one request that ends at its
	// bound, none asks past its last page (21 with the alphabet's cuts)
	if reqs > 16 {
		t.Errorf("%d list requests for %d pages with 16 slots: a range asked past its guessed bound", reqs, n/listPageSize)
	}
}

func TestCountedCuts(t *testing.T) {
	page := func(format string, from, n int) []ObjectInfo {
		var p []ObjectInfo
		for i := from; i < from+n; i++ {
			p = append(p, ObjectInfo{Key: fmt.Sprintf(format, i)})
		}
		return p
	}
	for _, c := range []struct {
		prefix string
		page   []ObjectInfo
		limit  int
		want   string
	}{
		// the page's last key, the next pages' last keys, then doubling steps
		{"r1/", page("r1/img-%05d.jpg", 0, 1000), 6,
			"r1/img-00999.jpg r1/img-01999.jpg r1/img-02999.jpg r1/img-03999.jpg r1/img-05999.jpg r1/img-09999.jpg"},
		{"d/", page("d/%03d", 500, 100), 3, "d/599 d/699 d/899"},
		// no guess past the width of the numbers
		{"d/", page("d/%03d", 700, 100), 9, "d/799 d/899 d/999"},
		{"d/", page("d/%03d", 900, 100), 9, ""}, // no room for another page: the alphabet's cuts
		// not counted: gaps, a different suffix, unpadded numbers, hex digits, no digits
		{"d/", append(page("d/%03d", 0, 9), ObjectInfo{Key: "d/099"}), 5, ""},
		{"d/", []ObjectInfo{{Key: "d/0.a"}, {Key: "d/1.b"}}, 5, ""},
		{"d/", page("d/%d", 8, 4), 5, ""},
		{"h/", page("h/%03x", 0, 0x5d0), 5, ""},
		{"", []ObjectInfo{{Key: "x"}, {Key: "y"}}, 5, ""},
		{"", []ObjectInfo{{Key: "1"}}, 5, ""},
	} {
		if got := strings.Join(countedCuts(c.prefix, c.page, c.limit), " "); got != c.want {
			t.Errorf("countedCuts(%q, %s...) = %q, want %q", c.prefix, c.page[0].Key, got, c.want)
		}
	}
	// many slots: the doubling steps stop at the width of the numbers (18
	// digits, near the int64 limit), in order, never wrapping around
	cuts := countedCuts("d/", page("d/%018d", 0, 1000), 1000)
	if len(cuts) < 100 || len(cuts) >= 1000 {
		t.Fatalf("%d cuts for 18-digit numbers and 1000 slots", len(cuts))
	}
	for i, cut := range cuts {
		if len(cut) != len("d/")+18 || (i > 0 && cut <= cuts[i-1]) {
			t.Fatalf("cut %d %q out of order after %q", i, cut, cuts[max(i-1, 0)])
		}
	}
}

func TestCutsAfter(t *testing.T) {
	page := func(format string, n int) []ObjectInfo {
		var p []ObjectInfo
		for i := 0; i < n; i++ {
			p = append(p, ObjectInfo{Key: fmt.Sprintf(format, i)})
		}
		return p
	}
	hashed := page("h/%03x", 0x5d0)
	for _, c := range []struct {
		prefix string
		page   []ObjectInfo
		limit  int
		want   string
	}{
		// counted names: the next thousands, then the next ten thousands, ...
		{"r1/", page("r1/img-%05d.jpg", 1000), 12,
			"r1/img-01 r1/img-02 r1/img-03 r1/img-04 r1/img-05 r1/img-06 r1/img-07 r1/img-08 r1/img-09 r1/img-1 r1/img-2 r1/img-3"},
		// hashed names: the rest of the hex digits where the page's keys part (no level above: the prefix)
		{"h/", hashed, 40, "h/6 h/7 h/8 h/9 h/a h/b h/c h/d h/e h/f"},
		{"h/", page("h/2%03x", 0x5d0), 40, "h/26 h/27 h/28 h/29 h/2a h/2b h/2c h/2d h/2e h/2f h/3 h/4 h/5 h/6 h/7 h/8 h/9 h/a h/b h/c h/d h/e h/f"},
		// no level above the prefix; none where the keys do not part
		{"ab", page("ab%d", 10), 10, ""},
		{"", []ObjectInfo{{Key: "x"}, {Key: "x"}}, 10, ""},
		{"", []ObjectInfo{{Key: "x"}}, 10, ""},
	} {
		cuts := cutsAfter(c.prefix, c.page, c.limit)
		if got := strings.Join(cuts, " "); got != c.want {
			t.Errorf("cutsAfter(%q, ...) = %q, want %q", c.prefix, got, c.want)
		}
		last := c.page[len(c.page)-1].Key
		for i, cut := range cuts {
			if cut <= last || (i > 0 && cut <= cuts[i-1]) || !strings.HasPrefix(cut, c.prefix) {
				t.Errorf("cut %q out of order after %q", cut, last)
			}
		}
	}
}

// A concurrent listing that fails anywhere returns the failure (the kind the
// sequential listing reports) and hands over no key: the caller never gets a
// partial listing.
func TestFastListFailsWholeWithTheListingsError(t *testing.T) {
	e := newEnv(t)
	e.seedKeys(t, numbered("f/%05d", 6000))
	fast := e.client(t, `,"maxAttempts":1,"datasetConfig":{"listConcurrency":16}`)
	list := func(bucket string) (int, error) {
		n := 0
		err := fast.List(bg, bucket, "f/", func(ObjectInfo) error { n++; return nil }, ListConcurrently())
		return n, err
	}
	if n, err := list("no-such-bucket"); n != 0 || kindOf(err) != KindNotFound {
		t.Fatalf("missing bucket: %d keys, error %v", n, err)
	}
	// about half the list requests fail: the first page's, or one of the ranges' it starts
	e.faults(t, ossemu.Faults{Seed: 7, ErrorRate500: 0.5, Ops: []string{"ListObjectsV2"}})
	for i := 0; i < 5; i++ {
		if n, err := list(tBucket); n != 0 || kindOf(err) != KindService {
			t.Fatalf("try %d: %d keys, error %v (kind %v)", i, n, err, kindOf(err))
		}
	}
	e.faults(t, ossemu.Faults{})
	if n, err := list(tBucket); n != 6000 || err != nil {
		t.Fatalf("without faults: %d keys, %v", n, err)
	}
}
