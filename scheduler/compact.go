package scheduler

import "time"

// maxLookaheads caps the bound-wait look-aheads of one pass (each is a
// clone of the occupancy plus a walk over the releases within BoundWait):
// jobs past the cap start where they fit, as they would without
// BoundWait, so a pass stays O(maxLookaheads × (hosts + releases ×
// placement)) however long the queue.
const maxLookaheads = 16

// boundSoon decides whether r, which could start at t on hs above its
// leaf lower bound, should rather wait for a placement at the bound: it
// returns a node hold at the earliest time such a placement frees up if
// the runtime estimates put it within the policy's BoundWait of t, and nil
// to go ahead with hs.
//
// The wait is bounded by construction: releases only ever add free nodes,
// so an estimate can only come sooner as jobs end early, and the hold is
// of nodes, which later jobs keep off unless they end first.
func (ps *pass) boundSoon(r *Request, hs []int32, t time.Time) *hold {
	if ps.p.BoundWait <= 0 || ps.p.Placement != PlaceTopology || ps.lookaheads >= maxLookaheads {
		return nil
	}
	v := ps.occ.view(r.Features)
	b := v.bound(r.Nodes)
	if b == noFit || ps.groupsOf(hs) <= b {
		return nil
	}
	if ml := ps.maxLeaves(r, t); ml > 0 && ml < b {
		b = ml
	}
	ps.lookaheads++
	by := t.Add(ps.boundWait(r))

	// Free nodes only grow with time: if even everything released by then
	// (reservations aside) holds no placement at the bound, none does.
	if ps.future(by).view(r.Features).place(r.Nodes, b) == nil {
		return nil
	}
	h := ps.reserveWithin(r, b, by)
	if h == nil {
		return nil
	}
	h.byNodes = true
	return h
}

// groupsOf counts the leaf groups of hosts sorted in tree order.
func (ps *pass) groupsOf(hs []int32) int {
	k, last := 0, int32(-1)
	for _, h := range hs {
		if g := ps.t.hostGroup[h]; g != last {
			k++
			last = g
		}
	}
	return k
}

// boundWait is how far ahead r looks for a placement at its bound: the
// policy's BoundWait, or less if BoundWaitFactor times its time limit is
// less (a 10-minute job should not wait hours to save a leaf).
func (ps *pass) boundWait(r *Request) time.Duration {
	wait := ps.p.BoundWait
	if f := ps.p.BoundWaitFactor; f > 0 {
		wait = min(wait, time.Duration(f*float64(r.walltime())))
	}
	return wait
}
