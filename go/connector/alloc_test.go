package connector

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"osstorchconnector/go/ossemu"
)

// countingAlloc hands out Go memory but keeps every live block, so a test
// can tell a leak (a block neither handed over nor freed) and a double or
// foreign free apart from correct use.
type countingAlloc struct {
	t      *testing.T
	mu     sync.Mutex
	live   map[*byte]int
	allocs int
}

func newCountingAlloc(t *testing.T) *countingAlloc {
	return &countingAlloc{t: t, live: map[*byte]int{}}
}

func (a *countingAlloc) Alloc(n int) []byte {
	if n <= 0 {
		a.t.Errorf("Alloc(%d): only positive sizes are asked for", n)
		return nil
	}
	b := make([]byte, n)
	a.mu.Lock()
	a.live[&b[0]] = n
	a.allocs++
	a.mu.Unlock()
	return b
}

func (a *countingAlloc) Free(b []byte) {
	if cap(b) == 0 {
		a.t.Errorf("Free of an empty slice")
		return
	}
	p := &b[:1][0]
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.live[p]; !ok {
		a.t.Errorf("Free of a block that is not live (freed twice, or not from Alloc)")
		return
	}
	delete(a.live, p)
}

// take frees a block the caller was handed; false if it was not live.
func (a *countingAlloc) take(b []byte) bool {
	if len(b) == 0 {
		return true // empty bodies own no block
	}
	a.mu.Lock()
	_, ok := a.live[&b[:1][0]]
	a.mu.Unlock()
	if ok {
		a.Free(b)
	}
	return ok
}

func (a *countingAlloc) liveBlocks() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.live)
}

func TestBatchGetReadsIntoAllocatorBlocksAndFreesTheRest(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"datasetConfig":{"prefetchConcurrency":3}`)
	e.put(t, c, "a/known", pattern(5000, 1))
	e.put(t, c, "a/unknown", pattern(3000, 2))
	e.put(t, c, "a/grew", pattern(4000, 3))
	e.put(t, c, "a/shrank", pattern(100, 4))
	e.put(t, c, "a/empty", nil)
	items := []Item{
		{Bucket: tBucket, Key: "a/known", Size: 5000},
		{Bucket: tBucket, Key: "a/unknown"},
		{Bucket: tBucket, Key: "a/grew", Size: 10},    // listed smaller: a block of the real size replaces it
		{Bucket: tBucket, Key: "a/shrank", Size: 999}, // listed larger: read into the listed block
		{Bucket: tBucket, Key: "a/empty", Size: 0},
		{Bucket: tBucket, Key: "a/missing", Size: 77}, // the block taken up front is freed
	}
	want := [][]byte{pattern(5000, 1), pattern(3000, 2), pattern(4000, 3), pattern(100, 4), {}, nil}
	a := newCountingAlloc(t)
	res := c.BatchGet(bg, items, WithAllocator(a))
	for i, r := range res {
		if i == 5 {
			if kindOf(r.Err) != KindNotFound || r.Data != nil {
				t.Fatalf("missing: %v %d bytes", r.Err, len(r.Data))
			}
			continue
		}
		if r.Err != nil || !bytes.Equal(r.Data, want[i]) {
			t.Fatalf("item %d: %d bytes, %v", i, len(r.Data), r.Err)
		}
	}
	if got := a.liveBlocks(); got != 4 {
		t.Fatalf("%d blocks live after the batch, want the 4 non-empty bodies", got)
	}
	for i, r := range res {
		if !a.take(r.Data) {
			t.Fatalf("item %d: its body is not a live block of the allocator", i)
		}
	}
	if a.allocs != 6 { // known, unknown, grew (listed + real), shrank, missing
		t.Fatalf("%d allocations, want 6", a.allocs)
	}
}

func TestReadRetriedIntoANewBlockFreesTheFailedOne(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.put(t, c, "r/x", pattern(20000, 7))
	a := newCountingAlloc(t)
	// the first GET's bytes are damaged: its CRC fails, and the read is
	// repeated into a block of its own (the size was not known up front)
	e.faults(t, ossemu.Faults{Seed: 3, FlipRate: 1, Ops: []string{"GetObject"}, FaultLimit: 1})
	r := c.BatchGet(bg, []Item{{Bucket: tBucket, Key: "r/x"}}, WithAllocator(a))[0]
	if r.Err != nil || !bytes.Equal(r.Data, pattern(20000, 7)) {
		t.Fatalf("%v", r.Err)
	}
	if a.allocs != 2 || a.liveBlocks() != 1 || !a.take(r.Data) {
		t.Fatalf("%d allocations, %d live; want 2 and the body's", a.allocs, a.liveBlocks())
	}
	// damaged every time: the read fails and nothing stays allocated
	e.faults(t, ossemu.Faults{Seed: 4, FlipRate: 1, Ops: []string{"GetObject"}})
	r = c.BatchGet(bg, []Item{{Bucket: tBucket, Key: "r/x"}, {Bucket: tBucket, Key: "r/x", Size: 20000}}, WithAllocator(a))[0]
	if r.Err == nil || a.liveBlocks() != 0 {
		t.Fatalf("err %v, %d blocks live", r.Err, a.liveBlocks())
	}
}

func TestPrefetchFreesWhatItNeverDelivered(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	for i := 0; i < 40; i++ {
		e.put(t, c, fmt.Sprintf("p/%02d", i), pattern(1000+i, byte(i)))
	}
	e.put(t, c, "p/zz-empty", nil)
	for _, take := range []int{0, 1, 7, 41} {
		t.Run(fmt.Sprint(take), func(t *testing.T) {
			a := newCountingAlloc(t)
			p, err := c.Prefetch(bg, PrefetchOptions{Bucket: tBucket, Prefix: "p/", Concurrency: 4}, WithAllocator(a))
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for got < take {
				batch := p.NextBatch(3)
				if batch == nil {
					break
				}
				if len(batch) > 3 {
					t.Fatalf("batch of %d, asked for at most 3", len(batch))
				}
				for _, o := range batch {
					i := 0
					fmt.Sscanf(o.Key, "p/%02d", &i)
					if o.Key == "p/zz-empty" {
						if o.Err != nil || len(o.Data) != 0 {
							t.Fatalf("empty object: %v %d bytes", o.Err, len(o.Data))
						}
					} else if o.Err != nil || !bytes.Equal(o.Data, pattern(1000+i, byte(i))) {
						t.Fatalf("%s: %v", o.Key, o.Err)
					}
					if !a.take(o.Data) {
						t.Fatalf("%s: body is not a live block", o.Key)
					}
					got++
				}
			}
			p.Close()
			if n := a.liveBlocks(); n != 0 {
				t.Fatalf("%d blocks leaked after taking %d objects and closing", n, got)
			}
			if take == 41 && got != 41 {
				t.Fatalf("delivered %d of 41", got)
			}
		})
	}
}

func TestTarReadHandsEachMemberItsOwnBlock(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	raw, want := makeTar(12, func(i int) int { return 300 + i*17 })
	e.put(t, c, "t.tar", raw)
	putTarIndex(t, e, c, "t.tar", "t.idx")
	ta, err := c.OpenTar(bg, tBucket, "t.tar", tBucket, "t.idx")
	if err != nil {
		t.Fatal(err)
	}
	a := newCountingAlloc(t)
	indices := []int{2, 3, 4, 9, 99, 3}
	res := ta.Read(bg, indices, WithAllocator(a))
	for i, r := range res {
		if indices[i] == 99 {
			if kindOf(r.Err) != KindInvalid || r.Data != nil {
				t.Fatalf("out of range: %v", r.Err)
			}
			continue
		}
		if r.Err != nil || !bytes.Equal(r.Data, want[indices[i]]) || r.Name != fmt.Sprintf("m/%03d.bin", indices[i]) {
			t.Fatalf("member %d: %q %v", indices[i], r.Name, r.Err)
		}
		if !a.take(r.Data) {
			t.Fatalf("member %d: not a live block of its own", indices[i])
		}
	}
	if n := a.liveBlocks(); n != 0 {
		t.Fatalf("%d blocks leaked", n)
	}
}
