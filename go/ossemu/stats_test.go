package ossemu

import (
	"testing"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
)

// SettledStats waits for the requests in flight when it is called: a GET held
// by first-byte latency is counted, and none is left in flight.
func TestSettledStatsWaitsForRequestsInFlight(t *testing.T) {
	srv, url := newTestServer(t, nil)
	c := newClient(url)
	mustPut(t, c, testBucket, "k", []byte("v"))
	setFaults(t, srv, Faults{LatencyMs: 1000, Ops: []string{"GetObject"}})
	srv.ResetStats()
	done := make(chan error, 1)
	go func() {
		_, err := c.GetObject(bg, &oss.GetObjectRequest{Bucket: oss.Ptr(testBucket), Key: oss.Ptr("k")})
		done <- err
	}()
	for srv.Stats().Concurrent == 0 { // until the GET has reached the server
		select {
		case err := <-done:
			t.Fatalf("the GET ended before the server saw it in flight: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	st := srv.SettledStats()
	if st.Concurrent != 0 || st.Count("GetObject", 200) != 1 {
		t.Fatalf("settled stats with %d in flight, GETs %v", st.Concurrent, st.Requests["GetObject"])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
