package connector

import (
	"fmt"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

func TestThrottlingHonoursQoSDelay(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, "")
	e.put(t, c, "q", []byte("q"))
	e.faults(t, ossemu.Faults{ErrorRate503: 1, QoSDelayMs: 300, FaultLimit: 2, Ops: []string{"GetObject"}})
	start := time.Now()
	if _, err := c.Get(bg, tBucket, "q"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Fatalf("two throttled answers asked for 300 ms each, retried after %v", d)
	}
}

// A loader that asks for more than the QPS limit, for longer than maxAttempts
// throttled answers last, is slowed down to the limit: nothing fails. Other
// failures still end a request after maxAttempts.
func TestSustainedThrottlingSlowsDownInsteadOfFailing(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"maxAttempts":3,"datasetConfig":{"prefetchConcurrency":16}`)
	var items []Item
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("t/%02d", i)
		e.put(t, c, k, []byte(k))
		items = append(items, Item{Bucket: tBucket, Key: k})
	}
	e.faults(t, ossemu.Faults{QPSLimit: 20, QoSDelayMs: 50, Ops: []string{"GetObject"}})
	for i, r := range c.BatchGet(bg, items) {
		if r.Err != nil || string(r.Data) != items[i].Key {
			t.Fatalf("%s under a 20 qps limit: %v", items[i].Key, r.Err)
		}
	}
	if st := e.srv.Stats(); st.Count("GetObject", 503) < 20 {
		t.Fatalf("only %d throttled answers: the limit was not exceeded, the test proves nothing", st.Count("GetObject", 503))
	}
	// a plain 500 is a failure: 3 attempts, then the error
	e.faults(t, ossemu.Faults{ErrorRate500: 1, Ops: []string{"GetObject"}})
	e.srv.ResetStats()
	if _, err := c.Get(bg, tBucket, "t/00"); err == nil {
		t.Fatal("a GET that always gets 500 succeeded")
	}
	if n := e.srv.SettledStats().Count("GetObject", 0); n != 3 {
		t.Fatalf("%d attempts against 500s with maxAttempts 3", n)
	}
}
