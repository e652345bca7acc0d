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
	const n = 40000
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("ds/%06d.jpg", i))
	}
	want = append(want, "ds/", "ds/\u00e9t\u00e9.jpg", "ds/~x", "ds/ space")
	for _, k := range append([]string{"dr/1", "ds", "ds0/1", "dt/\u00e9"}, want...) {
		if err := e.srv.Put(tBucket, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(want)
	e.faults(t, ossemu.Faults{LatencyMs: 10}) // every request waits: what runs in parallel shows
	fast := e.client(t, `,"datasetConfig":{"enableFastList":true,"listConcurrency":8}`)
	e.srv.ResetStats()
	var got []string
	if err := fast.List(bg, tBucket, "ds/", func(o ObjectInfo) error {
		got = append(got, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FastList: %d keys, want %d (first difference near %v)", len(got), len(want), firstDiff(got, want))
	}
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
