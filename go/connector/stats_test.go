package connector

import (
	"fmt"
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

func TestStatsCountRequestsBytesRetriesErrorsAndLatency(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"maxAttempts":3`)
	for i := 0; i < 5; i++ {
		e.put(t, c, fmt.Sprintf("s/%d", i), pattern(1000, byte(i)))
	}
	before := c.Stats()
	for i := 0; i < 5; i++ {
		if _, err := c.Get(bg, tBucket, fmt.Sprintf("s/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get(bg, tBucket, "s/missing"); kindOf(err) != KindNotFound {
		t.Fatalf("missing: %v", err)
	}
	e.faults(t, ossemu.Faults{ErrorRate500: 1, Ops: []string{"GetObject"}, FaultLimit: 2})
	if _, err := c.Get(bg, tBucket, "s/0"); err != nil { // two 500s, then the third attempt
		t.Fatal(err)
	}
	e.faults(t, ossemu.Faults{})
	if err := c.List(bg, tBucket, "s/", func(ObjectInfo) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if got := st.Gets - before.Gets; got != 5+1+3 {
		t.Fatalf("gets %d, want 9", got)
	}
	if st.Lists-before.Lists != 1 || st.OtherRequests < 5 {
		t.Fatalf("lists %d, other %d", st.Lists-before.Lists, st.OtherRequests)
	}
	if got := st.BytesIn - before.BytesIn; got < 6*1000 {
		t.Fatalf("bytes in %d", got)
	}
	if st.BytesOut < 5*1000 {
		t.Fatalf("bytes out %d", st.BytesOut)
	}
	if st.Retries-before.Retries != 2 {
		t.Fatalf("retries %d, want 2", st.Retries-before.Retries)
	}
	if st.Errors["not_found"] != 1 || st.Errors["server"] != 2 {
		t.Fatalf("errors %v", st.Errors)
	}
	var n int64
	for _, c := range st.FirstByte {
		n += c
	}
	if n != st.Gets+st.Lists+st.OtherRequests {
		t.Fatalf("latency histogram holds %d requests, the counters %d", n, st.Gets+st.Lists+st.OtherRequests)
	}
	if st.BusySeconds <= 0 {
		t.Fatal("no busy time")
	}
}

func TestLatencyBucketsBoundTheirLatencies(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 3 * time.Microsecond, 700 * time.Microsecond, 40 * time.Millisecond, 3 * time.Second, 10 * time.Hour} {
		i := latencyBucket(d)
		if d >= LatencyBucketBound(i) && i != LatencyBuckets-1 {
			t.Fatalf("%v in bucket %d, bound %v", d, i, LatencyBucketBound(i))
		}
		if i > 0 && d < LatencyBucketBound(i-1) {
			t.Fatalf("%v in bucket %d, but below the previous bound %v", d, i, LatencyBucketBound(i-1))
		}
	}
}
