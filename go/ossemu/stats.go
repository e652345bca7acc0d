package ossemu

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of what the server has served since start (or the last
// reset). Requests maps "Operation" to a map of HTTP status to count; a
// request whose connection a fault cut is counted under statusReset or
// statusTruncated instead, since no status reached its client.
type Stats struct {
	Requests       map[string]map[string]int64 `json:"requests"`
	BytesIn        int64                       `json:"bytes_in"`
	BytesOut       int64                       `json:"bytes_out"`
	Concurrent     int64                       `json:"concurrent"`
	PeakConcurrent int64                       `json:"peak_concurrent"`
	// PeakByOp is the most requests of each operation in flight at once
	// (what a client runs in parallel shows apart from its other requests).
	PeakByOp       map[string]int64 `json:"peak_by_op"`
	ListPages      int64            `json:"list_pages"`
	FaultsInjected int64            `json:"faults_injected"`
	Objects        int64            `json:"objects"`
	StoredBytes    int64            `json:"stored_bytes"`
}

// Count returns the number of requests for op (all statuses when status is 0).
func (s Stats) Count(op string, status int) int64 {
	var n int64
	for st, c := range s.Requests[op] {
		if status == 0 || st == strconv.Itoa(status) {
			n += c
		}
	}
	return n
}

// The statuses in Stats that are no HTTP status: a transport fault ended the
// request (Faults.ResetRate, Faults.TruncateRate), so its client got no
// answer, or only part of one.
const (
	statusReset     = 599 // the connection was reset (RST), in either direction
	statusTruncated = 598 // the response body was cut short (clean close)
)

type statsCollector struct {
	mu        sync.Mutex
	requests  map[string]map[string]int64
	inFlight  map[string]int64 // by operation, guarded by mu
	peakByOp  map[string]int64 // guarded by mu
	bytesIn   atomic.Int64
	bytesOut  atomic.Int64
	conc      atomic.Int64
	peak      atomic.Int64
	listPages atomic.Int64
	faults    atomic.Int64
}

func newStats() *statsCollector {
	return &statsCollector{requests: map[string]map[string]int64{}, inFlight: map[string]int64{},
		peakByOp: map[string]int64{}}
}

func (c *statsCollector) enter(op string) {
	c.mu.Lock()
	c.inFlight[op]++
	c.peakByOp[op] = max(c.peakByOp[op], c.inFlight[op])
	c.mu.Unlock()
	n := c.conc.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *statsCollector) leave(op string, status int) {
	c.mu.Lock()
	m := c.requests[op]
	if m == nil {
		m = map[string]int64{}
		c.requests[op] = m
	}
	m[strconv.Itoa(status)]++
	c.inFlight[op]--
	c.mu.Unlock()
	// Counted before it stops being in flight: whoever sees Concurrent drop
	// to 0 (a test waiting for the server to settle) sees every request.
	c.conc.Add(-1)
}

func (c *statsCollector) addIn(n int64)  { c.bytesIn.Add(n) }
func (c *statsCollector) addOut(n int64) { c.bytesOut.Add(n) }

func (c *statsCollector) snapshot() Stats {
	c.mu.Lock()
	req := make(map[string]map[string]int64, len(c.requests))
	ops := make([]string, 0, len(c.requests))
	for op := range c.requests {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		m := make(map[string]int64, len(c.requests[op]))
		for k, v := range c.requests[op] {
			m[k] = v
		}
		req[op] = m
	}
	peaks := make(map[string]int64, len(c.peakByOp))
	for op, n := range c.peakByOp {
		if op != "" {
			peaks[op] = n
		}
	}
	c.mu.Unlock()
	return Stats{Requests: req, PeakByOp: peaks, BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(), Concurrent: c.conc.Load(),
		PeakConcurrent: c.peak.Load(), ListPages: c.listPages.Load(), FaultsInjected: c.faults.Load()}
}

func (c *statsCollector) reset() {
	c.mu.Lock()
	c.requests = map[string]map[string]int64{}
	c.peakByOp = map[string]int64{}
	for op, n := range c.inFlight {
		if n > 0 {
			c.peakByOp[op] = n
		}
	}
	c.mu.Unlock()
	c.bytesIn.Store(0)
	c.bytesOut.Store(0)
	c.peak.Store(c.conc.Load())
	c.listPages.Store(0)
	c.faults.Store(0)
}
