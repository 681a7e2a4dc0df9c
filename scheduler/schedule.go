package scheduler

import (
	"slices"
	"time"
)

// Plan is what one scheduling pass decided.
type Plan struct {
	// Start is the jobs to allocate now, in decision order.
	Start []Assignment
	// Order is every pending job ID in the policy's queue order.
	Order []uint64
	// Hold is the head job's backfill reservation when the queue is blocked
	// under BackfillEASY; nil otherwise.
	Hold *Hold
	// Pins gives nodes to reservations that had none.
	Pins []Pin
	// Unpinned names reservations that cannot get enough nodes by their
	// start: they are not protected until they can.
	Unpinned []string
	// Reasons says why each pending job that does not start waits, in
	// Slurm's words: ReasonResources for the first job that does not fit,
	// ReasonPriority for the jobs queued behind it, and the more precise
	// reasons when the pass can tell.
	Reasons map[uint64]string
}

// Why a pending job waits (Slurm's squeue reason codes where one exists).
const (
	ReasonResources   = "Resources"   // not enough free nodes now
	ReasonPriority    = "Priority"    // jobs ahead of it in the queue wait
	ReasonSwitches    = "Switches"    // nodes are free, but not within its --switches leaves yet
	ReasonConstraint  = "Constraint"  // too few nodes with its features are up
	ReasonReservation = "Reservation" // its reservation has no room for it
	// ReasonLinks: a link-isolated job has the nodes, but not uplinks no
	// other isolated job holds (links.go).
	ReasonLinks = "Links"
	// ReasonTopology: nodes are free, but only over more leaves than the
	// job's size needs, and the estimates say a placement on the fewest
	// leaves frees up within the policy's BoundWait: it waits for that.
	ReasonTopology = "Topology"
)

// Hold is the promise EASY backfill makes to the first job that does not
// fit: it will start by At. With Policy.HoldNodes the promise is Nodes;
// otherwise it is a count, and Spare is how many nodes beyond the job's
// own long backfilled jobs could still take when the pass ended.
type Hold struct {
	JobID uint64
	At    time.Time
	Nodes []string
	Spare int
}

// Schedule runs one scheduling pass at now: order the pending jobs by the
// policy, start every job that fits (honouring reservations and the head
// job's hold), and stop at the first job that does not fit unless the
// policy backfills. It is pure: it reads the snapshot and returns a plan.
//
// Cost: O(nodes) to load the snapshot, then per pending job O(groups ×
// levels) for a multi-leaf topology placement, one bucket of the group
// index for a single-leaf one (groupindex.go), and O(1) when not enough
// nodes are free or a job no larger with the same constraints already
// found no placement this pass (failmemo.go); plus one look into the
// future for the head job: O(running nodes).
func Schedule(s Snapshot, p Policy, now time.Time) Plan {
	t := s.Tree
	if t == nil {
		t = TreeFromNodes(s.Nodes)
	}
	ps := s.Cache.pass(t, &s, p, now) // nodecache.go
	var plan Plan
	ps.pin(&s, &plan)
	idx := queue(&s, p, now)
	plan.Order = make([]uint64, len(idx))
	for k, i := range idx {
		plan.Order[k] = s.Pending[i].ID
	}
	var head *hold
	// Most jobs of a long queue wait: room for all their reasons.
	plan.Reasons = make(map[uint64]string, len(s.Pending))
	blocked := false    // a job that did not fit is ahead in the queue
	fails := failMemo{} // failmemo.go
	for _, i := range idx {
		req := requestFor(s.Pending[i], s.Options)
		r := &req
		if r.Nodes <= 0 {
			continue
		}
		if r.Reservation != "" {
			if hs := ps.placeInReservation(r); hs != nil {
				ps.start(&plan, r, hs)
			} else {
				plan.Reasons[r.JobID] = ReasonReservation
			}
			continue
		}
		limit := 0
		if blocked && p.BackfillAtBound && p.Placement == PlaceTopology && ps.compactSize(r) {
			limit = ps.occ.view(r.Features).bound(r.Nodes)
		}
		hs := ps.tryPlaceMemo(fails, r, head, limit)
		if hs == nil && limit > 0 && p.BackfillWaitFactor > 0 {
			hs = ps.backfillAbove(fails, r, head) // compactlimits.go
		}
		var soon *hold
		if hs != nil && !blocked && ps.compactSize(r) {
			soon = ps.boundSoon(r, hs, ps.now)
		}
		if hs != nil && soon == nil {
			ps.start(&plan, r, hs)
			continue
		}
		switch {
		case blocked:
			plan.Reasons[r.JobID] = ReasonPriority
		case soon != nil:
			plan.Reasons[r.JobID] = ReasonTopology
			blocked = true
		default:
			plan.Reasons[r.JobID] = ps.whyNot(r)
			blocked = true
		}
		if p.Backfill == BackfillNone {
			break
		}
		if head != nil {
			continue
		}
		head = soon
		if head == nil {
			head = ps.reserveHead(r)
		}
		if head != nil {
			head.links = r.isolated()
		}
		if head == nil {
			if ps.unknown > 0 {
				break // cannot promise anything: do not overtake
			}
			blocked = false // it never blocks the jobs behind it
			continue        // can never run on the nodes that are up: skip it
		}
		plan.Hold = &Hold{JobID: r.JobID, At: head.at, Spare: head.spare}
		if head.byNodes {
			plan.Hold.Nodes = ps.names(head.hosts)
			ps.held = ps.occ.setAll(head.hosts, false, nil)
			ps.heldAt = head.at
		}
	}
	if plan.Hold != nil && !head.byNodes {
		plan.Hold.Spare = head.spare
	}
	started := make(map[uint64]bool, len(plan.Start))
	for _, a := range plan.Start {
		started[a.JobID] = true
	}
	for _, i := range idx {
		id := s.Pending[i].ID
		if _, ok := plan.Reasons[id]; !ok && !started[id] && s.Pending[i].NumNodes > 0 {
			plan.Reasons[id] = ReasonPriority // behind a job that stopped the pass
		}
	}
	s.Cache.recycle(ps) // passrecycle.go: ps is not used after
	return plan
}

// whyNot names what keeps r, the first job that does not fit, from
// starting now: too few nodes with its features at all, free nodes that
// are too spread for its switch limit, or simply too few free nodes.
func (ps *pass) whyNot(r *Request) string {
	if len(r.Features) > 0 {
		v, n := ps.occ.view(r.Features), 0
		for h := range ps.t.hostNames {
			if v.eligible(int32(h)) {
				n++
			}
		}
		if n < r.Nodes {
			return ReasonConstraint
		}
	}
	if r.isolated() {
		loose := *r
		loose.Isolation, loose.Switches = "", 0
		if ps.placeOn(ps.occ.view(r.Features), &loose, ps.now, 0) != nil {
			return ReasonLinks
		}
	}
	if r.Switches > 0 {
		loose := *r
		loose.Switches = 0
		if ps.placeOn(ps.occ.view(r.Features), &loose, ps.now, 0) != nil {
			return ReasonSwitches
		}
	}
	return ReasonResources
}

// pass is the working state of one Schedule call.
type pass struct {
	t   *Tree
	p   Policy
	now time.Time
	occ *occupancy
	// rel says when busy hosts come back, sorted lazily.
	rel []release
	// relSorted is how long a prefix of rel is sorted (releases.go).
	relSorted int
	relTail   []release // scratch for merging
	unknown   int       // allocated hosts whose job is not in Snapshot.Running
	res       []*resv
	held      []int32   // free hosts taken out of occ for the head's hold
	heldAt    time.Time // the head's start: only jobs ending by then get held hosts
	// lookaheads counts boundSoon's looks into the future (capped).
	lookaheads int
	// images is each host's verified OS image, nil when no host has one
	// (image.go).
	images []string
}

// release is when a busy host comes back, in Unix nanoseconds: 16 bytes
// instead of 32 with a time.Time, and there is one per busy node. A
// negative host is the uplink -1-host of a link-isolated job (links.go).
type release struct {
	at   int64
	host int32
}

// release applies r: its host or its uplink is free again.
func (o *occupancy) release(r release) {
	if r.host < 0 {
		o.lfree[-1-r.host] = true
		return
	}
	o.set(r.host, true)
}

type hold struct {
	job   uint64
	at    time.Time
	hosts []int32
	spare int
	v     view // the head job's eligibility, for counting
	// byNodes: the hold is hosts (Policy.HoldNodes, or a hold for a
	// placement at the leaf lower bound), not a count.
	byNodes bool
	// links: the head job is link-isolated, so backfills that outlive its
	// start take no uplinks (tryPlace).
	links bool
}

// newPass loads the snapshot's nodes into a fresh pass (nodecache.go).
func newPass(t *Tree, s *Snapshot, p Policy, now time.Time) *pass {
	return loadNodes(t, s, false).newPass(t, p, now, true, nil)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (ps *pass) sortReleases() {
	ps.mergeReleases() // releases.go
}

// future is the occupancy at t if nothing else starts: today's free hosts
// plus every host released by then.
func (ps *pass) future(t time.Time) *occupancy {
	ps.sortReleases()
	o := ps.occ.clone()
	for _, r := range ps.rel {
		if r.at > t.UnixNano() {
			break
		}
		o.release(r)
	}
	return o
}

func (ps *pass) names(hs []int32) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = ps.t.hostNames[h]
	}
	return out
}

// start commits a placement to the pass: its hosts are taken and come back
// at now + walltime.
func (ps *pass) start(plan *Plan, r *Request, hs []int32) {
	end := ps.now.Add(r.walltime())
	for _, h := range hs {
		ps.occ.set(h, false)
		if r.Walltime > 0 {
			ps.rel = append(ps.rel, release{end.UnixNano(), h})
		}
	}
	var links []int32
	if r.isolated() {
		links, _ = ps.occ.linksFor(hs) // placeOn checked they are free
		ps.occ.setLinks(links, false)
		for _, l := range links {
			if r.Walltime > 0 {
				ps.rel = append(ps.rel, release{end.UnixNano(), -1 - l})
			}
		}
	}
	ps.noteEnds(hs, end.UnixNano()) // align.go
	if len(ps.held) > 0 && !end.After(ps.heldAt) {
		// A short job took some held nodes: they are no longer free to
		// hand back when the next short job asks. (Held hosts are free
		// only while a short job is placed (tryPlace), so no other job
		// can have taken one: skip the walk over the hold for those.)
		ps.held = slices.DeleteFunc(ps.held, func(h int32) bool {
			_, found := slices.BinarySearch(hs, h)
			return found
		})
	}
	plan.Start = append(plan.Start, Assignment{JobID: r.JobID, Nodes: ps.names(hs), Links: ps.t.linkNames(links)})
}

// maxLeaves is the job's leaf-switch limit if it still waits for one at t.
func (ps *pass) maxLeaves(r *Request, t time.Time) int {
	if level, n := ps.switchLimit(r, t); level <= 1 {
		return n
	}
	return 0
}

// switchLimit is the job's switch limit (level and count) if it still
// waits for one at t; count 0 means none.
func (ps *pass) switchLimit(r *Request, t time.Time) (level, n int) {
	if r.Switches <= 0 {
		return 1, 0
	}
	wait := r.SwitchWait
	if wait <= 0 {
		wait = ps.p.SwitchWait
	}
	if t.Sub(r.Submit) >= wait {
		return 1, 0
	}
	return max(1, r.SwitchLevel), r.Switches
}

// placeOn places r on v as of t; limit > 0 caps the leaf groups on top of
// the job's own switch limit.
func (ps *pass) placeOn(v view, r *Request, t time.Time, limit int) []int32 {
	v = ps.preferImage(v, r) // image.go
	if v.total() < r.Nodes {
		return nil
	}
	if r.isolated() {
		return ps.placeIsolatedOn(v, r, t, limit)
	}
	if ps.p.Placement == PlaceFirstFit {
		return v.firstFit(r.Nodes)
	}
	if v.o.end != nil {
		v.jobEnd = t.Add(r.walltime()).UnixNano()
	}
	level, n := ps.switchLimit(r, t)
	ml := 0
	if level <= 1 {
		ml = n
	}
	if limit > 0 && (ml == 0 || limit < ml) {
		ml = limit
	}
	if level >= 2 && n > 0 {
		return v.placeWithin(r.Nodes, ml, level, n)
	}
	return v.place(r.Nodes, ml)
}
