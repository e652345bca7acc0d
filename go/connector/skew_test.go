package connector

import (
	"testing"
	"time"

	"osstorchconnector/go/ossemu"
)

// The client follows the server's clock through RequestTimeTooSkewed answers,
// also when the skew changes again (NTP fixes it, or it drifts the other
// way): one refused request per change, none failed. With the SDK's own
// correction the second change failed every request.
func TestClockSkewIsCorrectedEachTimeItChanges(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, `,"maxAttempts":2`)
	e.put(t, c, "k", []byte("v"))
	for _, skew := range []time.Duration{20 * time.Minute, 0, -20 * time.Minute, 35 * time.Minute, 0} {
		e.faults(t, ossemu.Faults{ClockOffsetMs: skew.Milliseconds()})
		e.srv.ResetStats()
		for i := 0; i < 3; i++ {
			if got, err := c.Get(bg, tBucket, "k"); err != nil || string(got) != "v" {
				t.Fatalf("server clock %v, GET %d: %v", skew, i, err)
			}
		}
		if n := e.srv.SettledStats().Count("GetObject", 403); n > 1 {
			t.Fatalf("server clock %v: %d requests refused as skewed; one is needed to learn the offset", skew, n)
		}
	}
}
