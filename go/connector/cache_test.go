package connector

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"osstorchconnector/go/fastcrc"
)

// cacheClient is a client of e with a cache of budget bytes in a fresh
// directory, which it returns.
func cacheClient(t *testing.T, e *env, budget int64) (*Client, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	c := e.client(t, fmt.Sprintf(`,"datasetConfig":{"cachePath":%q,"cacheBytes":%d}`, dir, budget))
	if !c.CacheEnabled() {
		t.Fatal("cache not enabled")
	}
	return c, dir
}

// listed is every object under prefix as items carrying their listing's ETag.
func listed(t *testing.T, c *Client, prefix string) []Item {
	t.Helper()
	var items []Item
	err := c.List(bg, tBucket, prefix, func(o ObjectInfo) error {
		items = append(items, Item{Bucket: tBucket, Key: o.Key, Size: o.Size, ETag: o.ETag})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func checkBatch(t *testing.T, res []Result, want map[string][]byte, items []Item) {
	t.Helper()
	for i, r := range res {
		if r.Err != nil || !bytes.Equal(r.Data, want[items[i].Key]) {
			t.Fatalf("%s: %d bytes, err %v", items[i].Key, len(r.Data), r.Err)
		}
	}
}

// entries are the cache's entry files (not the lock, not temporaries).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "??", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range all {
		if !strings.HasPrefix(filepath.Base(p), cacheTmpPrefix) {
			out = append(out, p)
		}
	}
	return out
}

func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && filepath.Base(p) != cacheLockName {
			n += info.Size()
		}
		return nil
	})
	return n
}

func putObjects(t *testing.T, e *env, c *Client, prefix string, n, size int) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("%s%03d", prefix, i)
		want[k] = pattern(size+i, byte(i))
		e.put(t, c, k, want[k])
	}
	return want
}

func TestCacheSecondReadMakesNoGet(t *testing.T) {
	e := newEnv(t)
	c, _ := cacheClient(t, e, 1<<20)
	want := putObjects(t, e, c, "d/", 20, 1000)
	items := listed(t, c, "d/")
	checkBatch(t, c.BatchGet(bg, items), want, items)
	if st := c.Stats(); st.CacheMisses != 20 || st.CacheHits != 0 {
		t.Fatalf("first read: %d hits, %d misses", st.CacheHits, st.CacheMisses)
	}
	e.srv.ResetStats()
	checkBatch(t, c.BatchGet(bg, items), want, items)
	if n := e.srv.Stats().Count("GetObject", 0) + e.srv.Stats().Count("HeadObject", 0); n != 0 {
		t.Fatalf("second read with listing ETags made %d requests, want 0", n)
	}
	st := c.Stats()
	var total int64
	for _, b := range want {
		total += int64(len(b))
	}
	if st.CacheHits != 20 || st.CacheHitBytes != total {
		t.Fatalf("second read: %d hits, %d bytes, want 20 and %d", st.CacheHits, st.CacheHitBytes, total)
	}

	// Without an ETag (a key list, not a listing) a HEAD validates the entry.
	e.srv.ResetStats()
	plain := []Item{{Bucket: tBucket, Key: "d/003"}}
	checkBatch(t, c.BatchGet(bg, plain), want, plain)
	if st := e.srv.Stats(); st.Count("GetObject", 0) != 0 || st.Count("HeadObject", 0) != 1 {
		t.Fatalf("read without ETag: %v", st.Requests)
	}
}

func TestCacheCorruptEntryIsDroppedAndFetched(t *testing.T) {
	e := newEnv(t)
	c, dir := cacheClient(t, e, 1<<20)
	want := putObjects(t, e, c, "c/", 3, 5000)
	items := listed(t, c, "c/")
	c.BatchGet(bg, items)
	files := entries(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d entries, want 3", len(files))
	}
	for i, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			raw[len(raw)-10] ^= 0x40 // a flipped bit in the body
		case 1:
			raw = raw[:len(raw)-1] // truncated
		case 2:
			raw[0] = 'X' // header
		}
		if err := os.WriteFile(p, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.ResetStats()
	checkBatch(t, c.BatchGet(bg, items), want, items)
	if n := e.srv.Stats().Count("GetObject", 0); n != 3 {
		t.Fatalf("%d GETs after corrupting every entry, want 3", n)
	}
	if st := c.Stats(); st.CacheCorrupt != 1 || st.CacheHits != 0 {
		// truncated and bad-magic entries are dropped before their body is read
		t.Fatalf("corrupt %d, hits %d", st.CacheCorrupt, st.CacheHits)
	}
	// fetched again and kept again: the next read is served from disk
	e.srv.ResetStats()
	checkBatch(t, c.BatchGet(bg, items), want, items)
	if n := e.srv.Stats().Count("GetObject", 0); n != 0 {
		t.Fatalf("%d GETs once the entries were rewritten", n)
	}
}

func TestCacheNeverServesAnOverwrittenObject(t *testing.T) {
	e := newEnv(t)
	c, _ := cacheClient(t, e, 1<<20)
	e.put(t, c, "s/a", []byte("old bytes"))
	old := listed(t, c, "s/")
	c.BatchGet(bg, old)
	e.put(t, c, "s/a", []byte("new bytes, longer"))

	for name, items := range map[string][]Item{
		"listing":    listed(t, c, "s/"),
		"no etag":    {{Bucket: tBucket, Key: "s/a"}},
		"known size": {{Bucket: tBucket, Key: "s/a", Size: 9}},
	} {
		r := c.BatchGet(bg, items)[0]
		if r.Err != nil || string(r.Data) != "new bytes, longer" {
			t.Fatalf("%s: %q %v", name, r.Data, r.Err)
		}
	}
	if st := c.Stats(); st.CacheStale == 0 {
		t.Fatal("no stale entry counted")
	}
	// An object deleted on OSS is not served from the cache either.
	if err := c.Remove(bg, tBucket, "s/a"); err != nil {
		t.Fatal(err)
	}
	if r := c.BatchGet(bg, []Item{{Bucket: tBucket, Key: "s/a"}})[0]; kindOf(r.Err) != KindNotFound {
		t.Fatalf("deleted object: %q %v", r.Data, r.Err)
	}
}

func TestCacheStaysWithinBudgetLRU(t *testing.T) {
	e := newEnv(t)
	const budget = 40_000
	c, dir := cacheClient(t, e, budget)
	want := putObjects(t, e, c, "l/", 30, 3000)
	items := listed(t, c, "l/")
	for i, it := range items {
		checkBatch(t, c.BatchGet(bg, []Item{it}), want, []Item{it})
		if u := diskUsage(t, dir); u > budget {
			t.Fatalf("after %d objects the cache holds %d bytes, budget %d", i+1, u, budget)
		}
		// make recency explicit: item i was used at second i
		for _, p := range entries(t, dir) {
			if raw, _ := os.ReadFile(p); bytes.Contains(raw, []byte(it.Key)) {
				at := time.Unix(1_000_000+int64(i), 0)
				os.Chtimes(p, at, at)
			}
		}
	}
	// The most recently used objects are the ones left.
	e.srv.ResetStats()
	last := items[len(items)-5:]
	checkBatch(t, c.BatchGet(bg, last), want, last)
	if n := e.srv.Stats().Count("GetObject", 0); n != 0 {
		t.Fatalf("the 5 most recent objects took %d GETs", n)
	}
	e.srv.ResetStats()
	first := items[:1]
	checkBatch(t, c.BatchGet(bg, first), want, first)
	if n := e.srv.Stats().Count("GetObject", 0); n != 1 {
		t.Fatalf("the least recent object took %d GETs, want 1 (evicted)", n)
	}
	// An object larger than the whole cache is read, not kept.
	big := pattern(budget+1, 9)
	e.put(t, c, "big", big)
	if r := c.BatchGet(bg, []Item{{Bucket: tBucket, Key: "big"}})[0]; r.Err != nil || !bytes.Equal(r.Data, big) {
		t.Fatal(r.Err)
	}
	if u := diskUsage(t, dir); u > budget {
		t.Fatalf("cache holds %d bytes, budget %d", u, budget)
	}
}

// Separate diskCache values on one directory behave as separate processes
// do: each has its own open lock file, so flock sets them apart.
func TestCacheConcurrentWritersShareTheBudget(t *testing.T) {
	dir := t.TempDir()
	const budget = 64 << 10
	var caches []*diskCache
	for i := 0; i < 4; i++ {
		d, err := newDiskCache(dir, budget)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.lock.Close() })
		caches = append(caches, d)
	}
	var wg sync.WaitGroup
	var bad sync.Map
	for w, d := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				k := fmt.Sprintf("k%d", (i*7+w)%40) // the writers overlap on every key
				body := pattern(1000+(i*7+w)%40*50, byte(len(k)))
				if err := d.put(tBucket, k, `"etag"`, body, fastcrcOf(body)); err != nil {
					bad.Store(k, err)
				}
				if e := d.open(tBucket, k); e != nil {
					got, err := d.read(e, nil, bufs{})
					e.f.Close()
					if err != nil || !bytes.Equal(got, body) {
						bad.Store(k, fmt.Errorf("read back %d bytes: %v", len(got), err))
					}
				}
				// Counted under the cache's lock: writers reserve, rename and
				// evict under it, so the walk sees one moment (without it, it
				// may count an evicted entry and its successor both).
				var u int64
				d.withLock(func() error { u = diskUsage(t, dir); return nil })
				if u > budget {
					bad.Store("usage", fmt.Errorf("%d bytes on disk, budget %d", u, budget))
				}
				d.withLock(func() error {
					if r := d.reserved(); r > budget {
						bad.Store("reserved", fmt.Errorf("%d bytes reserved, budget %d", r, budget))
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	if u := diskUsage(t, dir); u > budget {
		t.Errorf("%d bytes on disk at the end, budget %d", u, budget)
	}
	bad.Range(func(k, v any) bool {
		t.Errorf("%v: %v", k, v)
		return true
	})
}

// Entries still being written cannot be evicted: when they fill the budget,
// a new entry is not kept, rather than put the directory over it.
func TestCacheEntriesBeingWrittenHoldTheirRoom(t *testing.T) {
	dir := t.TempDir()
	const budget = 10_000
	d, err := newDiskCache(dir, budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.lock.Close() })
	sub := filepath.Join(dir, "00")
	if err := os.MkdirAll(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	early := pattern(200, 5)
	if err := d.put(tBucket, "early", `"etag"`, early, fastcrcOf(early)); err != nil {
		t.Fatal(err)
	}
	var writing []*os.File
	for _, n := range []int64{5000, 4500} {
		f, err := d.reserve(sub, n)
		if err != nil {
			t.Fatal(err)
		}
		writing = append(writing, f)
		t.Cleanup(func() { f.Close() })
	}
	body := pattern(1000, 3)
	if err := d.put(tBucket, "late", `"etag"`, body, fastcrcOf(body)); err != nil {
		t.Fatal(err)
	}
	if e := d.open(tBucket, "late"); e != nil {
		e.f.Close()
		t.Fatal("an entry was kept with no room left for it")
	}
	if r := d.reserved(); r > budget {
		t.Fatalf("%d bytes reserved, budget %d", r, budget)
	}
	// Evicting the finished entries would not have made room: they stay.
	if e := d.open(tBucket, "early"); e == nil {
		t.Fatal("the cache was emptied for an entry it could not keep")
	} else {
		e.f.Close()
	}
	// The writers finish: the directory holds what they reserved, no more.
	for i, n := range []int{5000, 4500} {
		if _, err := writing[i].Write(pattern(n, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if u := diskUsage(t, dir); u > budget {
		t.Fatalf("%d bytes on disk, budget %d", u, budget)
	}
	// Once they are gone there is room again.
	for i, f := range writing {
		f.Close()
		d.release(f.Name(), []int64{5000, 4500}[i])
	}
	if err := d.put(tBucket, "late", `"etag"`, body, fastcrcOf(body)); err != nil {
		t.Fatal(err)
	}
	e := d.open(tBucket, "late")
	if e == nil {
		t.Fatal("not kept with the room back")
	}
	e.f.Close()
}

func TestCacheSettings(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	for _, tc := range []struct{ cfg, opt, want string }{
		{`"cacheBytes":100`, "", "no cache_path"},
		{`"cachePath":"` + dir + `"`, "", "no cache_bytes"},
		{`"cacheBytes":-1`, "", "datasetConfig.cacheBytes must be a non-negative integer"},
		{`"cachePath":1`, "", "datasetConfig.cachePath must be a string"},
		{`"cachePath":"/proc/osstorch-cache","cacheBytes":100`, "", "cannot be used as a cache directory"},
	} {
		cp := filepath.Join(e.dir, "cfg.json")
		os.WriteFile(cp, []byte(`{"datasetConfig":{`+tc.cfg+`}}`), 0o600)
		_, err := NewClient(Options{Endpoint: e.url, Region: tRegion, CredPath: e.cred, ConfigPath: cp})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// The client's own arguments complete or override the file's.
	cp := filepath.Join(e.dir, "cfg.json")
	os.WriteFile(cp, []byte(`{"datasetConfig":{"cacheBytes":100}}`), 0o600)
	c, err := NewClient(Options{Endpoint: e.url, Region: tRegion, CredPath: e.cred, ConfigPath: cp, CachePath: dir, CacheBytes: 5000})
	if err != nil || !c.CacheEnabled() || c.Config().DatasetConfig.CacheBytes != 5000 {
		t.Fatalf("%v", err)
	}
	if _, err := NewClient(Options{Endpoint: e.url, Region: tRegion, CredPath: e.cred, CachePath: dir, CacheBytes: -5}); err == nil || kindOf(err) != KindInvalid {
		t.Fatalf("negative cache_bytes: %v", err)
	}
	// Off by default: no directory is made, nothing is written.
	c = e.client(t, "")
	if c.CacheEnabled() {
		t.Fatal("cache on without settings")
	}
}

func fastcrcOf(b []byte) uint64 { return fastcrc.Checksum(b) }
