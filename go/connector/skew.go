package connector

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss"
	"github.com/aliyun/alibabacloud-oss-go-sdk-v2/oss/signer"
)

// clockSkew is the offset between this machine's clock and OSS's, learnt from
// 403 RequestTimeTooSkewed answers (their body carries the server's time) and
// added to every signing time.
//
// The SDK has its own correction (FeatureCorrectClockSkew, v1.6.1), turned off
// here: it takes the new offset as server time minus the signing time, but the
// signing time already includes the old offset. After one correction, a clock
// that is fixed again (NTP) or moves further gives an offset that flips
// between two wrong values, and every request fails. Here the offset is the
// server's time minus the local time when the answer arrives, whatever the
// offset was before.
type clockSkew struct{ offset atomic.Int64 } // nanoseconds

// observe learns the offset from err if it is a RequestTimeTooSkewed answer
// and reports whether it was.
func (s *clockSkew) observe(err error) bool {
	var se *oss.ServiceError
	if !errors.As(err, &se) || se.Code != "RequestTimeTooSkewed" || se.Timestamp.IsZero() {
		return false
	}
	s.offset.Store(int64(time.Until(se.Timestamp)))
	return true
}

// skewSigner signs with the learnt offset.
type skewSigner struct {
	signer.Signer
	skew *clockSkew
}

func (s skewSigner) Sign(ctx context.Context, sc *signer.SigningContext) error {
	sc.ClockOffset = time.Duration(s.skew.offset.Load())
	return s.Signer.Sign(ctx, sc)
}

// withSkewCorrection replaces the SDK's clock-skew correction with ours.
func withSkewCorrection(skew *clockSkew) func(*oss.Options) {
	return func(o *oss.Options) {
		o.FeatureFlags &^= oss.FeatureCorrectClockSkew
		o.Signer = skewSigner{Signer: o.Signer, skew: skew}
	}
}
