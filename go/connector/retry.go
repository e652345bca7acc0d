package connector

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/retry"
)

// qosRetryer is the SDK's standard retryer (5xx, 429, throttling codes,
// connection errors, CRC mismatches; full-jitter backoff) that also waits at
// least as long as a throttled answer's x-oss-qos-delay-time asks, and gives
// throttled answers a budget of their own.
//
// maxAttempts is meant for failures. An answer saying "too many requests,
// come back in N ms" is OSS pacing a client that asks faster than its QPS
// limit: counting it against 5 attempts made a loader that asks for more than
// the limit for a few seconds fail samples instead of slowing down to it.
// Other failures still end a request after maxAttempts attempts.
type qosRetryer struct {
	*retry.Standard
	attempts int           // configured maxAttempts: the budget for everything but throttling
	skew     *clockSkew    // learns from RequestTimeTooSkewed answers, which are then retried
	retries  *atomic.Int64 // counts the retries it allows (the client's Stats), if set
}

// maxThrottledAttempts bounds one request's attempts while OSS keeps
// throttling it. Each waits at least the delay OSS asks for and a backoff of
// up to 10 s, so a request rides out minutes of a saturated QPS limit.
const maxThrottledAttempts = 60

func newRetryer(maxAttempts int, skew *clockSkew) qosRetryer {
	return qosRetryer{retry.NewStandard(func(o *retry.RetryOptions) {
		o.MaxAttempts = maxAttempts
		o.BaseDelay = 100 * time.Millisecond
		o.MaxBackoff = 10 * time.Second
	}), maxAttempts, skew, nil}
}

// MaxAttempts is what the SDK's loop runs to; RetryDelay ends a request
// sooner unless it is being throttled. maxAttempts 1 still means no retries.
func (r qosRetryer) MaxAttempts() int {
	if r.attempts <= 1 {
		return r.attempts
	}
	return max(r.attempts, maxThrottledAttempts)
}

// throttled reports whether err is OSS pacing the client (spec: 503 with a
// QPS or traffic limit code, x-oss-qos-delay-time; or 429) rather than failing.
func throttled(err error) bool {
	var se *oss.ServiceError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case "TotalQpsLimitExceeded", "PartitionQpsLimitted", "DownloadTrafficRateLimitExceeded",
		"UploadTrafficRateLimitExceeded", "MetaOperationQpsLimitExceeded", "ActiveRequestLimitExceeded",
		"CpuLimitExceeded":
		return true
	}
	return se.StatusCode == 429 || qosDelay(err) > 0
}

// maxQoSDelay caps what a server may ask us to wait per attempt.
const maxQoSDelay = 30 * time.Second

// IsErrorRetryable adds network timeouts however deeply they are wrapped, and
// clock-skew answers (after learning the offset from them).
// The SDK only recognises a timeout that is the direct cause of a *url.Error;
// net/http wraps a failed request write in its own type first, so a write
// that timed out was treated as final.
func (r qosRetryer) IsErrorRetryable(err error) bool {
	if r.skew != nil && r.skew.observe(err) { // the next attempt is signed with the corrected time
		return true
	}
	if r.Standard.IsErrorRetryable(err) {
		return true
	}
	return IsTimeout(err)
}

// IsTimeout reports whether any error in err's chain is a timeout (a
// net.Error saying so: I/O deadlines, context.DeadlineExceeded). errors.As
// would stop at the *url.Error, itself a net.Error whose Timeout looks one
// level down only, so every error in the chain is asked.
func IsTimeout(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if ne, ok := e.(net.Error); ok && ne.Timeout() {
			return true
		}
	}
	return false
}

// errRetriesSpent ends the SDK's retry loop (it then returns the last error).
var errRetriesSpent = errors.New("retries spent")

// RetryDelay is asked before attempt number attempt (2, 3, ...).
func (r qosRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if attempt > r.attempts && !throttled(err) {
		return 0, errRetriesSpent
	}
	d, derr := r.Standard.RetryDelay(attempt, err)
	if q := qosDelay(err); q > d {
		d = q
	}
	if derr == nil && r.retries != nil {
		r.retries.Add(1)
	}
	return d, derr
}

func qosDelay(err error) time.Duration {
	var se *oss.ServiceError
	if !errors.As(err, &se) || se.Headers == nil {
		return 0
	}
	ms, perr := strconv.Atoi(se.Headers.Get("x-oss-qos-delay-time"))
	if perr != nil || ms <= 0 {
		return 0
	}
	return min(time.Duration(ms)*time.Millisecond, maxQoSDelay)
}

// retryBody runs send until it succeeds or its error is not retryable, with
// the client's retryer deciding and pacing. Uploads use it instead of the
// SDK's own retries: the SDK rewinds the one body reader it was given, while
// net/http may still be reading that reader for the failed attempt (a data
// race that can send wrong bytes). Here each attempt gets a fresh reader over
// the same bytes, which are only ever read.
//
// It returns how many attempts were made: after a failed attempt the bytes
// may still be read by the abandoned request, so the caller must not reuse
// the buffer for anything else.
func (c *Client) retryBody(ctx context.Context, send func(opts func(*oss.Options)) error) (int, error) {
	noRetry := func(o *oss.Options) { o.Retryer, o.RetryMaxAttempts = retry.NopRetryer{}, oss.Ptr(1) }
	var err error
	for attempt := 1; ; attempt++ {
		if err = send(noRetry); err == nil {
			return attempt, nil
		}
		// ErrIntegrity: the server received other bytes than were sent (checkSentCRC)
		retryable := c.retryer.IsErrorRetryable(err) || errors.Is(err, ErrIntegrity)
		if attempt >= c.retryer.MaxAttempts() || !retryable || ctx.Err() != nil {
			return attempt, err
		}
		d, derr := c.retryer.RetryDelay(attempt+1, err) // as the SDK asks: the number of the next attempt
		if derr != nil {
			return attempt, err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		}
	}
}
