package connector

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"osstorchconnector/go/tarindex"
)

// tarWithIndex puts a tar of n members at key and its index at key+".idx"
// (generate_tar_archive's pair: upstream's index and our checksum file), or
// with upstream true only upstream's index, whose members are found by their
// headers and carry no CRC-64.
func tarWithIndex(t *testing.T, e *env, c *Client, key string, n int, size func(int) int, upstream bool) ([][]byte, *tarindex.Index) {
	t.Helper()
	raw, want := makeTar(n, size)
	e.put(t, c, key, raw)
	ix := putTarIndex(t, e, c, key, key+".idx")
	if upstream {
		if err := c.Remove(bg, tBucket, key+".idx"+PartChecksumSuffix); err != nil {
			t.Fatal(err)
		}
	}
	return want, ix
}

func openTar(t *testing.T, c *Client, key string) *TarArchive {
	t.Helper()
	ta, err := c.OpenTar(bg, tBucket, key, tBucket, key+".idx")
	if err != nil {
		t.Fatal(err)
	}
	return ta
}

func checkMembers(t *testing.T, what string, res []Result, indices []int, want [][]byte) {
	t.Helper()
	for k, r := range res {
		i := indices[k]
		if r.Err != nil || !bytes.Equal(r.Data, want[i]) || r.Name != fmt.Sprintf("m/%03d.bin", i) {
			t.Fatalf("%s: member %d: %q, %d bytes, err %v", what, i, r.Name, len(r.Data), r.Err)
		}
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// resetSettled zeroes the server's counters once the requests of what came
// before are counted: a response is counted when its handler returns, which
// may be after the client has read it all.
func resetSettled(e *env) {
	e.srv.SettledStats()
	e.srv.ResetStats()
}

// tarGets counts the GETs that returned bytes: opening a tar whose index
// has no checksum file beside it asks for that file, every time, in vain.
func tarGets(e *env) int64 {
	st := e.srv.SettledStats()
	return st.Count("GetObject", 0) - st.Count("GetObject", 404)
}

// A tar read twice through a cache makes no ranged GET the second time, in
// any grouping of members; a run partly cached fetches only the members
// missing from it. With and without member offsets and CRC-64s in the index.
func TestTarCacheSecondReadMakesNoRangedGet(t *testing.T) {
	for _, upstream := range []bool{false, true} {
		t.Run(fmt.Sprintf("upstream-only=%v", upstream), func(t *testing.T) {
			e := newEnv(t)
			c, dir := cacheClient(t, e, 1<<20)
			const n = 30
			want, _ := tarWithIndex(t, e, c, "t.tar", n, func(i int) int { return 100 + i*97 + i%3*512 }, upstream)
			ta := openTar(t, c, "t.tar")
			if ta.Index.Located() == upstream {
				t.Fatalf("index located %v", ta.Index.Located())
			}
			all := seq(0, n)
			checkMembers(t, "first read", ta.Read(bg, all), all, want)
			if st := c.Stats(); st.CacheMisses < n || st.CacheHits != 0 {
				t.Fatalf("first read: %d hits, %d misses", st.CacheHits, st.CacheMisses)
			}
			if got := len(entries(t, dir)); got < n {
				t.Fatalf("%d cache entries, want one per member", got)
			}

			before := c.Stats()
			resetSettled(e)
			shuffled := []int{17, 3, 4, 5, 29, 0, 11, 10, 12, 3}
			a := newCountingAlloc(t)
			res := ta.Read(bg, shuffled, WithAllocator(a))
			checkMembers(t, "second read", res, shuffled, want)
			if got := tarGets(e); got != 0 {
				t.Fatalf("second read made %d GETs", got)
			}
			st := c.Stats()
			var hitBytes int64
			for _, i := range shuffled {
				hitBytes += int64(len(want[i]))
			}
			if st.CacheHits-before.CacheHits != int64(len(shuffled)) || st.CacheHitBytes-before.CacheHitBytes != hitBytes {
				t.Fatalf("second read: %d hits, %d bytes", st.CacheHits-before.CacheHits, st.CacheHitBytes-before.CacheHitBytes)
			}
			for _, r := range res {
				if !a.take(r.Data) {
					t.Fatal("a member's bytes are not a block of the allocator")
				}
			}
			if a.liveBlocks() != 0 {
				t.Fatalf("%d blocks leaked", a.liveBlocks())
			}

			// Another client on the same directory (another worker) opening
			// the tar anew: the index and checksum file come from the cache
			// too, each checked with a HEAD.
			c2 := e.client(t, fmt.Sprintf(`,"datasetConfig":{"cachePath":%q,"cacheBytes":%d}`, dir, 1<<20))
			resetSettled(e)
			checkMembers(t, "another client", openTar(t, c2, "t.tar").Read(bg, all), all, want)
			if got := tarGets(e); got != 0 {
				t.Fatalf("opening and reading again made %d GETs", got)
			}

			// A fresh cache: members cached from an earlier read are not
			// fetched again, the runs between them are.
			c3, _ := cacheClient(t, e, 1<<20)
			ta3 := openTar(t, c3, "t.tar")
			checkMembers(t, "part", ta3.Read(bg, []int{0, 1, 2, 3, 4, 10, 11, 12, 13, 14}), []int{0, 1, 2, 3, 4, 10, 11, 12, 13, 14}, want)
			resetSettled(e)
			some := seq(0, 20)
			checkMembers(t, "partly cached", ta3.Read(bg, some), some, want)
			if got := tarGets(e); got != 2 {
				t.Fatalf("%d GETs, want 2: members 5-9 and 15-19", got)
			}
			_, n1 := ta3.Index.Span(5, 9)
			_, n2 := ta3.Index.Span(15, 19)
			if got := e.srv.SettledStats().BytesOut; got != n1+n2 {
				t.Fatalf("%d bytes sent, want the uncached members' %d", got, n1+n2)
			}
		})
	}
}

// A member entry that is damaged on disk is dropped and fetched again, never
// served; kept again, it is served from disk on the next read.
func TestTarCacheCorruptMemberIsDroppedAndFetched(t *testing.T) {
	for _, upstream := range []bool{false, true} {
		t.Run(fmt.Sprintf("upstream-only=%v", upstream), func(t *testing.T) {
			e := newEnv(t)
			c, dir := cacheClient(t, e, 1<<20)
			const n = 12
			want, _ := tarWithIndex(t, e, c, "c.tar", n, func(i int) int { return 2000 + i }, upstream)
			ta := openTar(t, c, "c.tar")
			all := seq(0, n)
			checkMembers(t, "first read", ta.Read(bg, all), all, want)
			damaged := 0
			for _, p := range entries(t, dir) {
				raw, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(raw, []byte("c.tar\x00")) {
					continue // the index's own entries
				}
				switch damaged {
				case 0, 1:
					raw[len(raw)-7] ^= 0x04 // a flipped bit in the body
				case 2:
					raw = raw[:len(raw)-1] // truncated
				default:
					continue
				}
				damaged++
				if err := os.WriteFile(p, raw, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if damaged != 3 {
				t.Fatalf("%d member entries damaged", damaged)
			}
			resetSettled(e)
			checkMembers(t, "after damage", ta.Read(bg, all), all, want)
			if got := tarGets(e); got == 0 || got > 3 {
				t.Fatalf("%d GETs for 3 damaged members", got)
			}
			if st := c.Stats(); st.CacheCorrupt != 2 {
				// the truncated entry is dropped before its body is read
				t.Fatalf("%d corrupt, want 2", st.CacheCorrupt)
			}
			resetSettled(e)
			checkMembers(t, "kept again", ta.Read(bg, all), all, want)
			if got := tarGets(e); got != 0 {
				t.Fatalf("%d GETs once the entries were rewritten", got)
			}
		})
	}
}

// A tar overwritten with other bytes of the same layout (every member at the
// same offsets, so the entries have the same names) has a new ETag: opened
// again, none of its members is served from the old entries. Runs fetched by
// an archive opened before the change are not kept under its old ETag.
func TestTarCacheNeverServesAnOverwrittenTar(t *testing.T) {
	for _, upstream := range []bool{false, true} {
		t.Run(fmt.Sprintf("upstream-only=%v", upstream), func(t *testing.T) {
			e := newEnv(t)
			c, dir := cacheClient(t, e, 1<<20)
			const n = 10
			size := func(i int) int { return 700 + i*11 }
			_, ix := tarWithIndex(t, e, c, "s.tar", n, size, upstream)
			old := openTar(t, c, "s.tar")
			first := seq(0, 5)
			old.Read(bg, first)
			kept := len(entries(t, dir))

			raw, want := makeTar(n, size)
			for i := range want {
				raw[ix.Members[i].Offset] ^= 0xA5
				want[i] = bytes.Clone(want[i])
				want[i][0] ^= 0xA5
			}
			e.put(t, c, "s.tar", raw)
			putTarIndex(t, e, c, "s.tar", "s.tar.idx")
			if upstream {
				if err := c.Remove(bg, tBucket, "s.tar.idx"+PartChecksumSuffix); err != nil {
					t.Fatal(err)
				}
			}

			if upstream {
				// no CRC-64s: the old archive reads the new bytes, as it
				// would without a cache, but does not keep them as the old
				// tar's
				rest := seq(5, n)
				checkMembers(t, "old archive", old.Read(bg, rest), rest, want)
				if got := len(entries(t, dir)); got != kept {
					t.Fatalf("%d entries, %d before: the new tar's bytes were kept under the old ETag", got, kept)
				}
			}

			ta := openTar(t, c, "s.tar")
			resetSettled(e)
			all := seq(0, n)
			checkMembers(t, "new tar", ta.Read(bg, all), all, want)
			if got := tarGets(e); got == 0 {
				t.Fatal("the overwritten tar was served from the cache")
			}
			if st := c.Stats(); st.CacheStale < int64(len(first)) {
				t.Fatalf("%d stale, want at least %d", st.CacheStale, len(first))
			}
			// kept as the new tar's
			resetSettled(e)
			checkMembers(t, "new tar again", ta.Read(bg, all), all, want)
			if got := tarGets(e); got != 0 {
				t.Fatalf("%d GETs reading the new tar again", got)
			}
		})
	}
}
