package scheduler

import (
	"slices"
	"testing"
	"time"
)

// TestCompactMaxShare: in boundWaitScenario J wants 4 of the 8 hosts and
// waits for leaf01 under a one-hour BoundWait. With CompactMaxShare 0.5
// it is small enough to wait; with 0.4 it is too large and starts now
// over both leaves. In backfillScenario B (3 of 16 hosts) waits behind
// the blocked queue under BackfillAtBound unless CompactMaxShare puts it
// over the line (0.15), when it backfills over two leaves.
func TestCompactMaxShare(t *testing.T) {
	s := boundWaitScenario()
	for _, c := range []struct {
		share float64
		waits bool
	}{{0, true}, {0.5, true}, {0.4, false}} {
		pol := EASYPolicy()
		pol.BoundWait, pol.CompactMaxShare = time.Hour, c.share
		p := Schedule(s, pol, t0)
		hs, now := started(p)[3]
		if now == c.waits {
			t.Fatalf("share %v: J started %v on %v, want waiting %v", c.share, now, hs, c.waits)
		}
		if !c.waits && s.Tree.LeavesSpanned(hs) != 2 {
			t.Fatalf("share %v: J on %v", c.share, hs)
		}
	}
	s = backfillScenario()
	for _, c := range []struct {
		share float64
		waits bool
	}{{0, true}, {0.25, true}, {0.15, false}} {
		pol := EASYPolicy()
		pol.BackfillAtBound, pol.CompactMaxShare = true, c.share
		p := Schedule(s, pol, t0)
		hs, now := started(p)[4]
		if now == c.waits {
			t.Fatalf("backfill, share %v: B started %v on %v, want waiting %v", c.share, now, hs, c.waits)
		}
		if !c.waits && s.Tree.LeavesSpanned(hs) != 2 {
			t.Fatalf("backfill, share %v: B on %v", c.share, hs)
		}
	}
}

// TestBackfillWaitFactor: in backfillScenario B (3 nodes, 200 minutes)
// has no leaf with 3 free now and one at minute 60, when R1 and R2 end.
// Under BackfillAtBound with a BackfillWaitFactor of 0.25 (50 minutes)
// that is not soon enough and B backfills over two leaves; with 0.5 (100
// minutes), or without the factor, B waits and leaves the head's spare
// count as it was: C alone takes 2 of H's 6 spare nodes.
func TestBackfillWaitFactor(t *testing.T) {
	s := backfillScenario()
	for _, c := range []struct {
		factor float64
		waits  bool
	}{{0, true}, {0.5, true}, {0.25, false}} {
		pol := EASYPolicy()
		pol.BackfillAtBound, pol.BoundWait, pol.BackfillWaitFactor = true, 4*time.Hour, c.factor
		p := Schedule(s, pol, t0)
		got := started(p)
		hs, now := got[4]
		if now == c.waits {
			t.Fatalf("factor %v: B started %v on %v, want waiting %v", c.factor, now, hs, c.waits)
		}
		if _, ok := got[5]; !ok {
			t.Fatalf("factor %v: C did not start: %v", c.factor, startedIDs(p))
		}
		wantSpare := 4
		if !c.waits {
			wantSpare = 1
			if s.Tree.LeavesSpanned(hs) != 2 {
				t.Fatalf("factor %v: B on %v", c.factor, hs)
			}
		}
		if p.Hold == nil || p.Hold.JobID != 3 || p.Hold.Spare != wantSpare {
			t.Fatalf("factor %v: hold %+v, want H's with %d spare", c.factor, p.Hold, wantSpare)
		}
	}
}

// TestBackfillWaitFactorCapped: BoundWait caps the factor: with a
// BoundWait of 30 minutes B's compact placement at minute 60 is never
// soon enough, however large the factor.
func TestBackfillWaitFactorCapped(t *testing.T) {
	s := backfillScenario()
	pol := EASYPolicy()
	pol.BackfillAtBound, pol.BoundWait, pol.BackfillWaitFactor = true, 30*minute, 100
	p := Schedule(s, pol, t0)
	if got := startedIDs(p); !slices.Equal(got, []uint64{4, 5}) {
		t.Fatalf("started %v, want B (4) over two leaves and C (5)", got)
	}
}
