package connector

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
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
