package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is exponential back-off with jitter. The jitter matters more
// than the growth: when ibexd restarts, every node's stream breaks at the
// same instant, and without jitter they would all come back in lockstep.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

// next returns the wait before the next attempt: uniformly random in
// [d/2, d], where d doubles from min up to max.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

// reset starts over from min after a connection that worked.
func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
