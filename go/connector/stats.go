package connector

import (
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is what a Client has done since it was made: requests by kind,
// bytes, retries, failures by kind, first-byte latency and busy time. All
// counters only grow, so two snapshots subtract.
type Stats struct {
	Gets          int64            `json:"gets"`           // GetObject requests (ranged ones included)
	Lists         int64            `json:"lists"`          // ListObjects(V2) pages
	OtherRequests int64            `json:"other_requests"` // puts, parts, heads, deletes, ...
	BytesIn       int64            `json:"bytes_in"`       // response bodies read
	BytesOut      int64            `json:"bytes_out"`      // request bodies sent
	Retries       int64            `json:"retries"`        // attempts after the first, whatever the reason
	Errors        map[string]int64 `json:"errors"`         // failed attempts by kind (see statusKind)
	BusySeconds   float64          `json:"busy_seconds"`   // wall time with at least one request in flight
	// The node-local cache (docs/cache.md): objects served from it, objects
	// looked for and fetched instead, the bytes served, and of the misses
	// those whose entry held an older ETag or failed its CRC-64.
	CacheHits     int64 `json:"cache_hits"`
	CacheMisses   int64 `json:"cache_misses"`
	CacheHitBytes int64 `json:"cache_hit_bytes"`
	CacheStale    int64 `json:"cache_stale"`
	CacheCorrupt  int64 `json:"cache_corrupt"`
	// FirstByte counts requests by the time to their response headers: bucket
	// i holds latencies below LatencyBucketBound(i).
	FirstByte []int64 `json:"first_byte_hist"`
}

// Latency buckets: four per power of two of microseconds, from 1 µs to about
// 2^32 µs (over an hour), so a percentile read from them is within ~19%.
const (
	latencySteps   = 4
	LatencyBuckets = 32 * latencySteps
)

// LatencyBucketBound is the upper bound of first-byte bucket i.
func LatencyBucketBound(i int) time.Duration {
	return time.Duration(math.Exp2(float64(i+1)/latencySteps) * float64(time.Microsecond))
}

func latencyBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	// the smallest i with us < 2^((i+1)/steps)
	i := int(math.Floor(math.Log2(us) * latencySteps))
	return min(max(i, 0), LatencyBuckets-1)
}

// statsCollector is a Client's live Stats: atomic counters, and a mutex only
// for the busy clock (twice per request, beside an HTTP round trip).
type statsCollector struct {
	gets, lists, other, bytesIn, bytesOut, retries atomic.Int64
	errors                                         [numStatusKinds]atomic.Int64
	firstByte                                      [LatencyBuckets]atomic.Int64

	cacheHits, cacheMisses, cacheHitBytes, cacheStale, cacheCorrupt atomic.Int64

	mu       sync.Mutex
	inFlight int
	since    time.Time
	busy     time.Duration
}

func (s *statsCollector) begin(req *http.Request) {
	// as opName, but without parsing the query: this runs for every request
	switch q := req.URL.RawQuery; {
	case req.Method != http.MethodGet, strings.Contains(q, "uploadId="):
		s.other.Add(1)
	case strings.Contains(q, "list-type="):
		s.lists.Add(1)
	default:
		s.gets.Add(1)
	}
	if req.ContentLength > 0 {
		s.bytesOut.Add(req.ContentLength)
	}
	s.mu.Lock()
	if s.inFlight == 0 {
		s.since = time.Now()
	}
	s.inFlight++
	s.mu.Unlock()
}

// headers records the first byte (or the failure) of a request.
func (s *statsCollector) headers(resp *http.Response, err error, latency time.Duration) {
	s.firstByte[latencyBucket(latency)].Add(1)
	if k := statusKind(resp, err); k >= 0 {
		s.errors[k].Add(1)
	}
}

func (s *statsCollector) end(bodyBytes int64) {
	s.bytesIn.Add(bodyBytes)
	s.mu.Lock()
	s.inFlight--
	if s.inFlight == 0 {
		s.busy += time.Since(s.since)
	}
	s.mu.Unlock()
}

// Failed attempts by kind, as the stats name them.
const (
	statusNotFound = iota
	statusDenied
	statusThrottled
	statusServer
	statusClient
	statusTimeout
	statusNetwork
	numStatusKinds
)

var statusKindNames = [numStatusKinds]string{"not_found", "access_denied", "throttled", "server", "client", "timeout", "network"}

// statusKind classifies one attempt's outcome; -1 when it succeeded.
func statusKind(resp *http.Response, err error) int {
	switch {
	case err != nil && IsTimeout(err):
		return statusTimeout
	case err != nil:
		return statusNetwork
	case resp.StatusCode < 400:
		return -1
	case resp.StatusCode == http.StatusNotFound:
		return statusNotFound
	case resp.StatusCode == http.StatusForbidden:
		return statusDenied
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		return statusThrottled
	case resp.StatusCode >= 500:
		return statusServer
	}
	return statusClient
}

func (s *statsCollector) snapshot() Stats {
	st := Stats{Gets: s.gets.Load(), Lists: s.lists.Load(), OtherRequests: s.other.Load(), BytesIn: s.bytesIn.Load(),
		BytesOut: s.bytesOut.Load(), Retries: s.retries.Load(), Errors: map[string]int64{},
		FirstByte: make([]int64, LatencyBuckets), CacheHits: s.cacheHits.Load(), CacheMisses: s.cacheMisses.Load(),
		CacheHitBytes: s.cacheHitBytes.Load(), CacheStale: s.cacheStale.Load(), CacheCorrupt: s.cacheCorrupt.Load()}
	for k := range s.errors {
		if n := s.errors[k].Load(); n > 0 {
			st.Errors[statusKindNames[k]] = n
		}
	}
	for i := range s.firstByte {
		st.FirstByte[i] = s.firstByte[i].Load()
	}
	s.mu.Lock()
	busy := s.busy
	if s.inFlight > 0 {
		busy += time.Since(s.since)
	}
	s.mu.Unlock()
	st.BusySeconds = busy.Seconds()
	return st
}

// Stats is a snapshot of what the client has done so far.
func (c *Client) Stats() Stats { return c.stats.snapshot() }
