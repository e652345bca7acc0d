package ossemu

import (
	"fmt"
	"path"
	"strings"
)

// Options configures a Server. The zero value is an in-memory server that
// demands signatures from an unknown key, so set AccessKeyID/AccessKeySecret or
// Anonymous.
type Options struct {
	// Region the server claims. Empty accepts the region named in each V4
	// request's credential scope.
	Region string
	// AccessKeyID and AccessKeySecret are the only credentials accepted.
	AccessKeyID     string
	AccessKeySecret string
	// SecurityToken, when set, must accompany every signed request (STS).
	SecurityToken string
	// Anonymous accepts every request without checking signatures.
	Anonymous bool
	// DataDir keeps objects on disk so that they survive a restart. Empty keeps
	// everything in memory.
	DataDir string
	// Buckets are created at start (no error if they already exist).
	Buckets []string
	// Domain is the host name (without port) that virtual-hosted requests are
	// made against, e.g. "oss-test.local" for "bucket.oss-test.local". When
	// empty, a Host that is an IP address, "localhost", has no dot, or starts
	// with "oss-" (as the official endpoints do) is path-style; any other host
	// names its bucket in its first label.
	Domain string
	// Admin serves the stats and fault endpoints under /_ossemu/.
	Admin bool
	// Faults is the initial fault and realism configuration.
	Faults Faults
}

// Faults holds the injected latency, throttling and failures. Probabilities are
// in [0, 1]; all random choices come from one generator seeded with Seed, so a
// run with the same requests in the same order behaves the same.
//
// Latency, bandwidth and the QPS limit apply to every data request. The error
// and body faults apply to requests that match Ops and KeyPattern (all when
// empty), at most FaultLimit times in total (no limit when 0).
type Faults struct {
	Seed int64 `json:"seed"`

	// ClockOffsetMs moves the server's clock (signature checks and the Date
	// header), to exercise clients' clock-skew correction.
	ClockOffsetMs int64 `json:"clock_offset_ms"`

	LatencyMs       int `json:"latency_ms"`        // first-byte latency
	LatencyJitterMs int `json:"latency_jitter_ms"` // uniform extra 0..jitter
	// OpLatencyMs adds first-byte latency to the named operations only
	// (e.g. a slow listing under fast reads).
	OpLatencyMs map[string]int `json:"op_latency_ms"`

	BandwidthPerConn int64 `json:"bandwidth_per_conn"` // bytes/s per response body, 0 = unlimited
	BandwidthTotal   int64 `json:"bandwidth_total"`    // bytes/s across all bodies, 0 = unlimited

	QPSLimit   int `json:"qps_limit"`    // requests/s before 503 TotalQpsLimitExceeded, 0 = unlimited
	QoSDelayMs int `json:"qos_delay_ms"` // x-oss-qos-delay-time sent with throttling 503s (default 100)

	ErrorRate500 float64 `json:"error_rate_500"` // 500 InternalError before the request is processed
	ErrorRate503 float64 `json:"error_rate_503"` // 503 ServiceUnavailable (with x-oss-qos-delay-time)

	ResetRate          float64 `json:"reset_rate"`        // TCP reset after ResetAfterBytes of a body
	ResetAfterBytes    int64   `json:"reset_after_bytes"` //
	TruncateRate       float64 `json:"truncate_rate"`     // response body cut short (clean close) after TruncateAfterBytes
	TruncateAfterBytes int64   `json:"truncate_after_bytes"`
	StallRate          float64 `json:"stall_rate"`        // body pauses StallMs after StallAfterBytes
	StallMs            int     `json:"stall_ms"`          //
	StallAfterBytes    int64   `json:"stall_after_bytes"` //
	FlipRate           float64 `json:"flip_rate"`         // one response body byte inverted; CRC header stays true

	Ops        []string `json:"ops"`         // operation names (GetObject, PutObject, UploadPart, ...)
	KeyPattern string   `json:"key_pattern"` // path.Match pattern over the object key
	FaultLimit int      `json:"fault_limit"` // total injected faults, 0 = unlimited
}

func (f *Faults) validate() error {
	for name, p := range map[string]float64{
		"error_rate_500": f.ErrorRate500, "error_rate_503": f.ErrorRate503, "reset_rate": f.ResetRate,
		"truncate_rate": f.TruncateRate, "stall_rate": f.StallRate, "flip_rate": f.FlipRate,
	} {
		if p < 0 || p > 1 {
			return fmt.Errorf("ossemu: %s must be within [0, 1], got %v", name, p)
		}
	}
	for name, v := range map[string]int64{
		"latency_ms": int64(f.LatencyMs), "latency_jitter_ms": int64(f.LatencyJitterMs),
		"bandwidth_per_conn": f.BandwidthPerConn, "bandwidth_total": f.BandwidthTotal,
		"qps_limit": int64(f.QPSLimit), "qos_delay_ms": int64(f.QoSDelayMs),
		"reset_after_bytes": f.ResetAfterBytes, "truncate_after_bytes": f.TruncateAfterBytes,
		"stall_ms": int64(f.StallMs), "stall_after_bytes": f.StallAfterBytes, "fault_limit": int64(f.FaultLimit),
	} {
		if v < 0 {
			return fmt.Errorf("ossemu: %s must not be negative, got %d", name, v)
		}
	}
	for op, v := range f.OpLatencyMs {
		if v < 0 {
			return fmt.Errorf("ossemu: op_latency_ms[%q] must not be negative, got %d", op, v)
		}
	}
	if f.KeyPattern != "" {
		if _, err := path.Match(f.KeyPattern, ""); err != nil {
			return fmt.Errorf("ossemu: key_pattern %q: %v", f.KeyPattern, err)
		}
	}
	for _, op := range f.Ops {
		if strings.TrimSpace(op) == "" {
			return fmt.Errorf("ossemu: empty operation name in ops")
		}
	}
	return nil
}
