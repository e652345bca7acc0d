package connector

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"osstorchconnector/go/ossemu"
)

func TestPrefetchSharesAreDisjointAndComplete(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	want := map[string]bool{}
	for i := 0; i < 97; i++ {
		k := fmt.Sprintf("p/%03d", i)
		e.put(t, c, k, pattern(100+i, byte(i)))
		want[k] = true
	}
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for rank := 0; rank < 2; rank++ {
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.Prefetch(bg, PrefetchOptions{Bucket: tBucket, Prefix: "p/", WorkerID: w, WorkerCount: 3,
					Rank: rank, WorldSize: 2, Concurrency: 3, MemoryBudget: 1000})
				if err != nil {
					t.Error(err)
					return
				}
				for {
					o, ok := p.Next()
					if !ok {
						break
					}
					i := 0
					fmt.Sscanf(o.Key, "p/%03d", &i)
					if o.Err != nil || !bytes.Equal(o.Data, pattern(100+i, byte(i))) || o.Index%6 != rank*3+w {
						t.Errorf("%s: %v (index %d)", o.Key, o.Err, o.Index)
					}
					mu.Lock()
					seen[o.Key]++
					mu.Unlock()
				}
				if p.Err() != nil {
					t.Error(p.Err())
				}
			}()
		}
	}
	wg.Wait()
	for k := range want {
		if seen[k] != 1 {
			t.Fatalf("%s delivered %d times", k, seen[k])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("delivered %d distinct, want %d", len(seen), len(want))
	}
	if _, err := c.Prefetch(bg, PrefetchOptions{Bucket: tBucket, WorkerID: 3, WorkerCount: 3}); kindOf(err) != KindInvalid {
		t.Fatalf("bad shard: %v", err)
	}
}

// Ordered delivers the share in its order while one slow object holds the
// line, and the memory budget bounds how far fetching runs ahead of it.
func TestPrefetchOrderedWaitsForTheSlowObjectWithinTheBudget(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	var items []Item
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("o/%03d", i)
		e.put(t, c, k, pattern(1000, byte(i)))
		items = append(items, Item{Bucket: tBucket, Key: k, Size: 1000})
	}
	e.faults(t, ossemu.Faults{LatencyMs: 400, Ops: []string{"GetObject"}, KeyPattern: "o/003"})
	run := func(ordered bool) (keys []string, getsBeforeSlow int64) {
		before := e.srv.SettledStats().Count("GetObject", 0)
		p, err := c.Prefetch(bg, PrefetchOptions{Items: items, WorkerID: 1, WorkerCount: 2, Concurrency: 4,
			MemoryBudget: 6 * 1000, Ordered: ordered})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for {
			o, ok := p.Next()
			if !ok {
				break
			}
			if o.Err != nil || !bytes.Equal(o.Data, pattern(1000, byte(o.Index))) {
				t.Fatalf("%s: %v", o.Key, o.Err)
			}
			if o.Key == "o/003" { // the slow one
				getsBeforeSlow = e.srv.Stats().Count("GetObject", 0) - before
			}
			keys = append(keys, o.Key)
		}
		return keys, getsBeforeSlow
	}
	var want []string
	for i := 1; i < 40; i += 2 {
		want = append(want, fmt.Sprintf("o/%03d", i))
	}
	keys, ahead := run(true)
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("ordered: %v", keys)
	}
	// o/001 was taken, o/003 held the line: meanwhile at most the budget's 6 objects were fetched
	if ahead > 1+6+1 {
		t.Fatalf("%d GETs before the slow object was delivered: fetching ran past the budget", ahead)
	}
	if keys, _ := run(false); fmt.Sprint(keys) == fmt.Sprint(want) {
		t.Fatalf("unordered delivery kept the order despite the slow object: the test shows nothing")
	}
}
