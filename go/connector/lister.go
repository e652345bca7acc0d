package connector

import (
	"context"
	"sync"
)

// Lister lists a prefix in the background (List: page by page, or with
// FastList all at once at the end) and hands the objects over as they
// arrive, so that a consumer can start on the first page while the rest is
// still being listed.
type Lister struct {
	withETags bool
	cancel    context.CancelFunc
	mu        sync.Mutex
	got       []ObjectInfo
	done      bool
	err       error
	ready     chan struct{} // holds a token while objects or the end wait for Next
	ended     chan struct{}
}

// StartListing lists bucket/prefix in the background; call Next until it
// reports the end, or Close.
func (c *Client) StartListing(ctx context.Context, bucket, prefix string) *Lister {
	ctx, cancel := context.WithCancel(ctxOr(ctx))
	l := &Lister{withETags: c.CacheEnabled(), cancel: cancel, ready: make(chan struct{}, 1), ended: make(chan struct{})}
	go func() {
		defer close(l.ended)
		err := c.List(ctx, bucket, prefix, func(o ObjectInfo) error {
			l.mu.Lock()
			l.got = append(l.got, o)
			l.mu.Unlock()
			l.signal()
			return nil
		})
		l.mu.Lock()
		l.done, l.err = true, err
		l.mu.Unlock()
		l.signal()
	}()
	return l
}

func (l *Lister) signal() {
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Next waits for objects and returns those listed since the last call, up
// to max (in key order); an empty result with a nil error is the end. A
// listing error comes once the objects listed before it were taken.
func (l *Lister) Next(max int) ([]ObjectInfo, error) {
	for {
		l.mu.Lock()
		n := min(len(l.got), max)
		if n > 0 {
			out := l.got[:n:n]
			l.got = l.got[n:]
			if len(l.got) == 0 {
				l.got = nil // let the taken part go
			}
			l.mu.Unlock()
			return out, nil
		}
		done, err := l.done, l.err
		l.mu.Unlock()
		if done {
			return nil, err
		}
		<-l.ready
	}
}

// WithETags reports whether the consumer should keep the objects' ETags:
// the client has a node-local cache, which checks entries against them.
func (l *Lister) WithETags() bool { return l.withETags }

// Close stops the listing and waits for it to end.
func (l *Lister) Close() {
	l.cancel()
	<-l.ended
}
