package connector

import (
	"context"
	"sync"
)

// streamInput is the queue between whoever feeds a streamed Prefetcher
// (Add, from any goroutine or C thread) and its producer. It is unbounded
// so that a feeder that also hands items to other consumers is never held
// up by this one's fetching.
type streamInput struct {
	mu    sync.Mutex
	items []Item
	ended bool
	ready chan struct{} // holds a token while items or the end wait for take
}

func newStreamInput() *streamInput { return &streamInput{ready: make(chan struct{}, 1)} }

func (s *streamInput) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *streamInput) add(items []Item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return invalidf("items added after the end of a streamed prefetch's input")
	}
	s.items = append(s.items, items...)
	s.signal()
	return nil
}

func (s *streamInput) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = true
	s.signal()
}

// take waits for items and returns all that are queued; false once the
// input has ended and everything was taken, or when ctx is done.
func (s *streamInput) take(ctx context.Context) ([]Item, bool) {
	for {
		s.mu.Lock()
		items, ended := s.items, s.ended
		s.items = nil
		s.mu.Unlock()
		if len(items) > 0 {
			return items, true
		}
		if ended {
			return nil, false
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, false
		}
	}
}
