package scheduler

import "time"

// Limits on the compact options (BackfillAtBound, BoundWait), for
// workloads where waiting for the fewest leaves costs more slowdown than
// it is worth (issue 16's stream and the X5 fabric):
//
//   - Policy.CompactMaxShare: a job larger than this share of the
//     fabric's hosts starts where it fits when it can start now or as a
//     backfill, instead of waiting for its leaf lower bound: such a
//     placement needs half the machine drained into whole leaves, and
//     every node idled for it is a node the rest of the queue waits for.
//     Only as the head of a blocked queue, which waits anyway, does it
//     still wait (within BoundWait) for a hold at its bound: exempting
//     the head too measured worse on X5 (94.6% at the bound at slowdown
//     172 against 95.0% at 171).
//   - Policy.BackfillWaitFactor: a backfill that fits now only above its
//     bound starts there unless the runtime estimates say a placement at
//     the bound frees up within this multiple of its own time limit (and
//     BoundWait): waits in proportion to the job's length, instead of an
//     unbounded wait behind the blocked queue.
//
// Both are off (0) in the default policy: on the KTH-SP2 and Lublin
// replays the unbounded compact waits cost nothing against EASY.

// compactSize says whether r is small enough for the compact options.
func (ps *pass) compactSize(r *Request) bool {
	f := ps.p.CompactMaxShare
	return f <= 0 || float64(r.Nodes) <= f*float64(len(ps.t.hostNames))
}

// backfillAbove applies BackfillWaitFactor to a backfill r that found no
// placement at its bound: its placement above the bound if it has one and
// no placement at the bound is due soon enough; nil to wait.
func (ps *pass) backfillAbove(fails failMemo, r *Request, head *hold) []int32 {
	spare := 0
	if head != nil {
		spare = head.spare
	}
	hs := ps.tryPlaceMemo(fails, r, head, 0)
	if hs == nil || !ps.boundDue(r) {
		return hs
	}
	if head != nil {
		head.spare = spare // the placement is not taken: give back its count
	}
	return nil
}

// boundDue says whether, going by the runtime estimates and if nothing
// else started, the free nodes allow r a placement at its leaf lower bound
// within min(BoundWait, BackfillWaitFactor × its time limit). Past the
// look-ahead cap of the pass (compact.go) it says no: the job starts
// where it fits.
func (ps *pass) boundDue(r *Request) bool {
	if ps.lookaheads >= maxLookaheads {
		return false
	}
	v := ps.occ.view(r.Features)
	b := v.bound(r.Nodes)
	if b == noFit {
		return false
	}
	ps.lookaheads++
	wait := min(ps.p.BoundWait, time.Duration(ps.p.BackfillWaitFactor*float64(r.walltime())))
	return ps.future(ps.now.Add(wait)).view(r.Features).place(r.Nodes, b) != nil
}
