package ossemu

import (
	"context"
	"math/rand/v2"
	"path"
	"slices"
	"sync"
	"time"
)

// faultEngine draws every random decision from one seeded generator.
type faultEngine struct {
	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	injected int
	total    *tokenBucket
	qps      *tokenBucket
}

func newFaultEngine(f Faults) *faultEngine {
	e := &faultEngine{}
	e.set(f)
	return e
}

func (e *faultEngine) set(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.f = f
	e.rng = rand.New(rand.NewPCG(uint64(f.Seed), uint64(f.Seed)^0x9E3779B97F4A7C15))
	e.injected = 0
	e.total = nil
	if f.BandwidthTotal > 0 {
		e.total = newTokenBucket(float64(f.BandwidthTotal), float64(f.BandwidthTotal)/10)
	}
	e.qps = nil
	if f.QPSLimit > 0 {
		e.qps = newTokenBucket(float64(f.QPSLimit), float64(f.QPSLimit))
	}
}

func (e *faultEngine) get() Faults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.f
}

// latency returns the first-byte delay for one request of op.
func (e *faultEngine) latency(op string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := time.Duration(e.f.LatencyMs+e.f.OpLatencyMs[op]) * time.Millisecond
	if e.f.LatencyJitterMs > 0 {
		d += time.Duration(e.rng.IntN(e.f.LatencyJitterMs+1)) * time.Millisecond
	}
	return d
}

// throttled reports whether the QPS limit refuses this request.
func (e *faultEngine) throttled() bool {
	e.mu.Lock()
	q := e.qps
	e.mu.Unlock()
	return q != nil && !q.take(1)
}

func (e *faultEngine) qosDelayMs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f.QoSDelayMs > 0 {
		return e.f.QoSDelayMs
	}
	return 100
}

// plan is the set of faults chosen for one request.
type plan struct {
	status  int // 500 or 503 before processing
	resetAt int64
	truncAt int64
	stallAt int64
	stall   time.Duration
	flipAt  int64 // offset within the body, -1 for none
	perConn int64
	total   *tokenBucket
}

func (e *faultEngine) matches(op, key string) bool {
	if len(e.f.Ops) > 0 && !slices.Contains(e.f.Ops, op) {
		return false
	}
	if e.f.KeyPattern != "" {
		if ok, _ := path.Match(e.f.KeyPattern, key); !ok {
			return false
		}
	}
	return true
}

// draw picks this request's faults. bodyLen is the length of the body a fault
// may hit (response for reads, request for writes).
func (e *faultEngine) draw(op, key string, bodyLen int64) plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := plan{resetAt: -1, truncAt: -1, stallAt: -1, flipAt: -1, perConn: e.f.BandwidthPerConn, total: e.total}
	if !e.matches(op, key) {
		return p
	}
	budget := func() bool { return e.f.FaultLimit == 0 || e.injected < e.f.FaultLimit }
	hit := func(rate float64) bool {
		if rate <= 0 || !budget() {
			return false
		}
		if rate >= 1 || e.rng.Float64() < rate {
			e.injected++
			return true
		}
		return false
	}
	switch {
	case hit(e.f.ErrorRate500):
		p.status = 500
		return p
	case hit(e.f.ErrorRate503):
		p.status = 503
		return p
	}
	if bodyLen <= 0 {
		return p
	}
	// A cut after N > 0 bytes lands inside the body (a point past its end
	// cuts the last byte) but always leaves at least a byte sent, so a
	// reader that resumes makes progress: a one-byte body (the tail of a
	// resumed read) is not cut unless N is 0. Otherwise a rate of 0.5 cuts
	// such a tail five times in a row one time in 32, and a reader rightly
	// gives up after that many attempts with no progress.
	cuttable := func(after int64) bool { return after == 0 || bodyLen > 1 }
	if cuttable(e.f.ResetAfterBytes) && hit(e.f.ResetRate) {
		p.resetAt = min(e.f.ResetAfterBytes, bodyLen-1)
	}
	if cuttable(e.f.TruncateAfterBytes) && hit(e.f.TruncateRate) {
		p.truncAt = min(e.f.TruncateAfterBytes, bodyLen-1)
	}
	if hit(e.f.StallRate) {
		p.stallAt = min(e.f.StallAfterBytes, bodyLen-1)
		p.stall = time.Duration(e.f.StallMs) * time.Millisecond
	}
	if hit(e.f.FlipRate) {
		p.flipAt = e.rng.Int64N(bodyLen)
	}
	return p
}

// tokenBucket is a simple rate limiter: rate tokens per second, up to burst.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time                           // time.Now; tests pass a fake clock
	sleep  func(context.Context, time.Duration) error // sleepCtx
}

func newTokenBucket(rate, burst float64) *tokenBucket {
	if burst < 1 {
		burst = 1
	}
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: time.Now(), now: time.Now, sleep: sleepCtx}
}

// minPaceSleep is the least a paced write sleeps: a timer wakes no sooner
// than about a millisecond, so sleeping the m/rate each 32 KiB write costs
// (327 µs at 100 MB/s) sent bodies at about a quarter of the rate asked for.
// Smaller debts are carried to the next write instead.
const minPaceSleep = 2 * time.Millisecond

// newBodyPacer paces one response body at rate bytes/s from its first byte
// (nil, which does not wait, for no limit). The burst of minPaceSleep's worth
// of bytes credits a timer that wakes late.
func newBodyPacer(rate int64) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	b := newTokenBucket(float64(rate), float64(rate)*minPaceSleep.Seconds())
	b.tokens = 0
	return b
}

func (b *tokenBucket) refill(now time.Time) {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
}

func (b *tokenBucket) take(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	if b.tokens >= n {
		b.tokens -= n
		return true
	}
	return false
}

// wait takes n tokens, going into debt (so large writes are paced rather
// than refused), and sleeps the debt off once it reaches minPaceSleep, or
// until ctx ends. A nil bucket does not limit.
func (b *tokenBucket) wait(ctx context.Context, n float64) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	b.refill(b.now())
	b.tokens -= n
	d := time.Duration(-b.tokens / b.rate * float64(time.Second))
	b.mu.Unlock()
	if d < minPaceSleep {
		return nil
	}
	return b.sleep(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
