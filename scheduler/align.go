package scheduler

import "math"

// End-time alignment (Policy.AlignEnds): a job that fits one leaf goes to
// the leaf it keeps busy the least beyond what that leaf is busy anyway,
// so the jobs of a leaf tend to end together and the leaf comes back
// whole for the jobs that need a whole leaf.

// initEnds records, per busy host, when the runtime estimates say it comes
// back (math.MaxInt64 when never).
func (ps *pass) initEnds() {
	if !ps.p.AlignEnds || ps.p.Placement != PlaceTopology {
		return
	}
	end := make([]int64, len(ps.t.hostNames))
	for h := range end {
		if !ps.occ.free[h] {
			end[h] = math.MaxInt64
		}
	}
	for _, r := range ps.rel {
		if r.host >= 0 { // a negative host is an uplink (links.go)
			end[r.host] = r.at
		}
	}
	ps.occ.end = end
}

// noteEnds records the end of a job started on hs.
func (ps *pass) noteEnds(hs []int32, at int64) {
	if ps.occ.end == nil {
		return
	}
	for _, h := range hs {
		ps.occ.end[h] = at
	}
}

// alignedGroup is bestGroup under AlignEnds: among the leaf groups with n
// free eligible hosts, the one whose busy horizon (latest end of its busy
// hosts) the job extends least; a group with no busy host comes last, so
// whole leaves stay whole; then the tightest fit.
func (v view) alignedGroup(n int) int32 {
	t := v.o.t
	best, bx, bf := int32(-1), int64(0), int32(0)
	for g := range t.groups {
		f := v.group(int32(g))
		if int(f) < n {
			continue
		}
		gr := &t.groups[g]
		var horizon int64
		busy := false
		for h := gr.lo; h < gr.hi; h++ {
			if !v.o.free[h] {
				busy = true
				horizon = max(horizon, v.o.end[h])
			}
		}
		x := int64(math.MaxInt64)
		if busy {
			x = max(0, v.jobEnd-horizon)
		}
		if best < 0 || x < bx || x == bx && f < bf {
			best, bx, bf = int32(g), x, f
		}
	}
	return best
}
