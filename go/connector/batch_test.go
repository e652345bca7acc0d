package connector

import (
	"fmt"
	"testing"

	"osstorchconnector/go/ossemu"
)

func TestBatchGetKeepsOrderAndReportsPerItem(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"datasetConfig":{"prefetchConcurrency":4}`)
	var items []Item
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("b/%d", i)
		if i != 13 {
			e.put(t, c, k, []byte(k))
		}
		items = append(items, Item{Bucket: tBucket, Key: k})
	}
	e.faults(t, ossemu.Faults{LatencyMs: 20})
	e.srv.ResetStats()
	res := c.BatchGet(bg, items)
	for i, r := range res {
		if i == 13 {
			if kindOf(r.Err) != KindNotFound {
				t.Fatalf("item 13: %v", r.Err)
			}
			continue
		}
		if r.Err != nil || string(r.Data) != items[i].Key {
			t.Fatalf("item %d: %q %v", i, r.Data, r.Err)
		}
	}
	if st := e.srv.Stats(); st.PeakConcurrent < 4 {
		t.Fatalf("batch ran with peak %d concurrent requests, want 4", st.PeakConcurrent)
	}
}
