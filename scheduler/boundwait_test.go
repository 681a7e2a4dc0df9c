package scheduler

import (
	"testing"
	"time"
)

// TestBoundWaitFactor: in boundWaitScenario J (one hour) has a compact
// placement 30 minutes away. A BoundWait of 4 hours capped at a quarter of
// J's time limit (15 minutes) does not reach it, so J starts now over two
// leaves; capped at J's time limit (an hour) it does, and J waits.
func TestBoundWaitFactor(t *testing.T) {
	s := boundWaitScenario()
	for _, c := range []struct {
		factor float64
		waits  bool
	}{{0.25, false}, {1, true}, {0, true}} {
		pol := EASYPolicy()
		pol.BoundWait, pol.BoundWaitFactor = 4*time.Hour, c.factor
		p := Schedule(s, pol, t0)
		hs, startedNow := started(p)[3]
		if startedNow == c.waits {
			t.Fatalf("factor %v: J started %v on %v, want waiting %v", c.factor, startedNow, hs, c.waits)
		}
		if c.waits && p.Reasons[3] != ReasonTopology {
			t.Fatalf("factor %v: reason %q", c.factor, p.Reasons[3])
		}
	}
}
