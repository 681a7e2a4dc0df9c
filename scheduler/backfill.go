package scheduler

import (
	"time"
)

// tryPlace places r now, keeping off reservations it would overlap and, once
// a head job holds a reservation, off whatever that hold needs: with
// HoldNodes the held nodes (unless r ends before the head starts), without
// it more than the spare node count (the classic EASY test).
func (ps *pass) tryPlace(r *Request, head *hold, limit int) []int32 {
	hs, _ := ps.tryPlaceWhy(r, head, limit)
	return hs
}

// tryPlaceWhy is tryPlace that also says whether a placement was found
// (placed is true when only the head's spare count refused it).
func (ps *pass) tryPlaceWhy(r *Request, head *hold, limit int) (hs []int32, placed bool) {
	end := ps.now.Add(r.walltime())
	short := head != nil && !end.After(head.at)
	if short && len(ps.held) > 0 {
		ps.occ.setAll(ps.held, true, nil)
		defer ps.occ.setAll(ps.held, false, nil)
	}
	var undo []int32
	for _, rv := range ps.res {
		if rv.conflicts(r, ps.now, end) {
			undo = ps.occ.setAll(rv.hosts, false, undo)
		}
	}
	defer ps.occ.setAll(undo, true, nil)
	if head != nil && head.links && !short && r.isolated() {
		limit = 1 // no uplinks the head job may need at its start
	}
	hs = ps.placeOn(ps.occ.view(r.Features), r, ps.now, limit)
	if hs == nil || head == nil || short || head.byNodes {
		return hs, hs != nil
	}
	used := 0
	for _, h := range hs {
		if head.v.eligible(h) {
			used++
		}
	}
	if used > head.spare {
		return nil, true
	}
	head.spare -= used
	return hs, true
}

// reserveHead finds the earliest time r can start if nothing else starts:
// walk the releases in time order, and at each candidate time check that
// enough eligible nodes are free, none of them booked by a reservation
// during r's run, and (before its switch wait runs out) in few enough
// leaves. Returns nil if no such time exists.
func (ps *pass) reserveHead(r *Request) *hold {
	h := ps.reserveWithin(r, 0, time.Time{})
	if h == nil {
		return nil
	}
	if lb := ps.boundSoon(r, h.hosts, h.at); lb != nil {
		return lb
	}
	h.byNodes = ps.p.HoldNodes
	return h
}

// reserveWithin finds the earliest time r can start on at most limit leaf
// groups (0: its own switch limit only), no later than by (zero: ever);
// see reserveHead.
func (ps *pass) reserveWithin(r *Request, limit int, by time.Time) *hold {
	ps.sortReleases()
	w := r.walltime()
	times := ps.startTimes(r, by) // releases.go
	prof := ps.occ.clone()
	ri := 0
	for _, t := range times {
		for ri < len(ps.rel) && ps.rel[ri].at <= t.UnixNano() {
			prof.release(ps.rel[ri])
			ri++
		}
		end := t.Add(w)
		var undo []int32
		for _, rv := range ps.res {
			if rv.conflicts(r, t, end) {
				undo = prof.setAll(rv.hosts, false, undo)
			}
		}
		v := prof.view(r.Features)
		v.last = ps.occ.free
		hs := ps.placeOn(v, r, t, limit)
		spare := v.total() - r.Nodes
		prof.setAll(undo, true, nil)
		if hs != nil {
			return &hold{job: r.JobID, at: t, hosts: hs, spare: spare, v: ps.occ.view(r.Features)}
		}
	}
	return nil
}
