package scheduler

import (
	"fmt"
	"slices"
	"time"
)

// Link isolation (Jigsaw: Smith et al., SC'18, "Mitigating inter-job
// interference using adaptive flow-aware routing" and "Jigsaw: a
// high-utilization, interference-free job scheduler for fat-tree
// clusters"). A job that asks for it gets, besides its nodes, the
// leaf-to-spine cables its inter-leaf traffic needs, and no other isolated
// job gets them while it runs.
//
// The model. Each leaf switch has uplinks, one per cable to a switch one
// level up. A plane is "the k-th cable to spine s" (for a full fat tree,
// simply spine s): the cable of plane p at leaf a and the cable of plane p
// at leaf b meet at the same spine, so traffic from a to b can cross
// plane p using only those two cables. Planes are what jobs choose.
//
// The rule. A job on one leaf group uses no uplinks. A job with n_i nodes
// on leaf i, over several leaves, holds the cables of one set S of planes
// at every one of its leaves, with |S| >= max n_i. That is enough for any
// traffic the job can generate without crossing another job's cables:
// traffic between leaves is a bipartite multigraph (sources on one side,
// destinations on the other) in which leaf i has degree at most n_i, and
// by König's edge-colouring theorem its edges can be coloured with
// max n_i colours so that no two edges at a leaf share a colour: colour =
// plane, so every flow gets a cable of its own at both ends. Holding fewer
// planes at the smaller leaves (only n_i of them) is not enough: a leaf of
// 4 nodes sending to four leaves of 1 node each could then route all four
// flows over the one plane those share. This is the condition of the
// issue (|S| >= max n_i, the same S at every leaf); Jigsaw additionally
// restricts the job's shape (equal n_i but for one leaf) to waste fewer
// cables, which the placement here approximates by taking max n_i as small
// as the chosen leaves allow (see placeIsolated).
//
// Three levels. An isolated job stays under one level-2 switch (a pod, or
// the spines of a leaf/spine fabric): traffic between pods would also need
// spine-to-core cables. The tables ibex loads (fabric/route) keep a job's
// flows on any cables it holds, spine-to-core ones included, but this
// model allocates only leaf uplinks: planes are named by spine, and the
// spines of different pods are different switches, so a job across pods
// would need planes of (spine position, core) consistent in every pod. A
// request bigger than any pod can hold isolated is refused at submission
// (Tree.MaxIsolated).
//
// Rail groups (hosts cabled to several leaves) have no uplinks in this
// model: an isolated job uses at most one rail group.
//
// Held cables are part of the scheduler's input (model.Job.Links of the
// running jobs in Snapshot.Running, recorded by the FSM with the
// allocation): never recomputed from the current state.

// IsolationLinks is the isolation mode that allocates cables (the only
// one; "" is none).
const IsolationLinks = "links"

// ParseIsolation checks an isolation mode: "" or "none" (no isolation) or
// "links".
func ParseIsolation(s string) (string, error) {
	switch s {
	case "", "none":
		return "", nil
	case IsolationLinks:
		return IsolationLinks, nil
	}
	return "", fmt.Errorf("unknown isolation %.32q (want none or links)", s)
}

// linkModel is a tree's uplinks: every cable from a leaf group's leaf
// switch to the level above, numbered.
type linkModel struct {
	names  []string         // link id -> "leaf>spine" or "leaf>spine#k"
	idx    map[string]int32 // name -> link id
	planes int              // number of distinct planes
	// up[g] is leaf group g's uplinks, sorted by plane.
	up [][]uplink
}

type uplink struct{ plane, link int32 }

// buildLinks numbers the uplinks declared with TreeBuilder.Uplink. Only
// single-leaf groups get uplinks (see the rail-group note above).
func (t *Tree) buildLinks(uplinks map[string][]string) {
	m := linkModel{idx: map[string]int32{}, up: make([][]uplink, len(t.groups))}
	planeIdx := map[string]int32{}
	for g, gr := range t.groups {
		if len(gr.leaves) != 1 {
			continue
		}
		leaf := gr.leaves[0]
		k := map[string]int{}
		for _, sp := range uplinks[leaf] {
			k[sp]++
			plane := sp
			if k[sp] > 1 {
				plane = fmt.Sprintf("%s#%d", sp, k[sp])
			}
			p, ok := planeIdx[plane]
			if !ok {
				p = int32(len(planeIdx))
				planeIdx[plane] = p
			}
			id := int32(len(m.names))
			name := leaf + ">" + plane
			m.names = append(m.names, name)
			m.idx[name] = id
			m.up[g] = append(m.up[g], uplink{plane: p, link: id})
		}
		slices.SortFunc(m.up[g], func(a, b uplink) int { return int(a.plane - b.plane) })
	}
	m.planes = len(planeIdx)
	t.links = m
	o := newOccupancy(t)
	for h := range t.hostNames {
		o.set(int32(h), true)
	}
	t.isoMax = o.view(nil).maxIsolated()
}

// NumLinks is the number of uplinks the tree models.
func (t *Tree) NumLinks() int { return len(t.links.names) }

// LinkID resolves a link name ("leaf>spine", "leaf>spine#2").
func (t *Tree) LinkID(name string) (int, bool) {
	i, ok := t.links.idx[name]
	return int(i), ok
}

// MaxIsolated is the largest job that can ever run link-isolated on the
// tree: one whole leaf group, or the most an empty pod's free planes allow.
// A bigger isolated request can never start.
func (t *Tree) MaxIsolated() int { return t.isoMax }

// IsolationError says why an isolated request of n nodes can never start,
// or is nil.
func (t *Tree) IsolationError(n int) error {
	if n <= t.isoMax {
		return nil
	}
	return fmt.Errorf("%d nodes cannot run link-isolated on this fabric: at most %d can (one leaf of %d, or leaves under one pod with as many free uplinks each as the job's largest share of a leaf); ask for fewer nodes or drop --isolation", n, t.isoMax, t.maxGroupSize)
}

// isolated reports whether r asks for link isolation.
func (r *Request) isolated() bool { return r.Isolation == IsolationLinks && r.Nodes > 1 }

// freePlanes appends to out the planes of group g whose cable is free, in
// plane order.
func (o *occupancy) freePlanes(g int32, out []int32) []int32 {
	for _, u := range o.t.links.up[g] {
		if o.lfree[u.link] {
			out = append(out, u.plane)
		}
	}
	return out
}

// intersect keeps the planes of a (sorted) that are also in b (sorted).
func intersect(a, b []int32) []int32 {
	out := a[:0]
	j := 0
	for _, p := range a {
		for j < len(b) && b[j] < p {
			j++
		}
		if j < len(b) && b[j] == p {
			out = append(out, p)
		}
	}
	return out
}

// linksFor chooses the cables an isolated job on hosts hs holds: the
// first max n_i planes free at every one of its leaf groups. nil with ok
// for a job on one group (it needs none); ok false if the free cables do
// not allow it.
func (o *occupancy) linksFor(hs []int32) (links []int32, ok bool) {
	t := o.t
	count := map[int32]int{}
	var groups []int32
	for _, h := range hs {
		g := t.hostGroup[h]
		if count[g] == 0 {
			groups = append(groups, g)
		}
		count[g]++
	}
	if len(groups) <= 1 {
		return nil, true
	}
	m := 0
	var common []int32
	for i, g := range groups {
		m = max(m, count[g])
		if i == 0 {
			common = o.freePlanes(g, nil)
		} else {
			common = intersect(common, o.freePlanes(g, nil))
		}
	}
	if len(common) < m {
		return nil, false
	}
	common = common[:m]
	for _, g := range groups {
		for _, u := range t.links.up[g] {
			if _, found := slices.BinarySearch(common, u.plane); found {
				links = append(links, u.link)
			}
		}
	}
	slices.Sort(links)
	return links, true
}

// setLinks marks cables free or held.
func (o *occupancy) setLinks(ids []int32, free bool) {
	for _, id := range ids {
		o.lfree[id] = free
	}
}

// placeIsolated places n hosts so that the job can hold its cables (see
// the rule above), on at most maxLeaves groups (0: any), or returns nil.
// One group if one has room (tightest fit, as place); otherwise, under
// each level-2 switch, for each cap m on the nodes per leaf, the fewest
// leaves that each have m free planes in common and add up to n hosts
// (greedy: fullest leaves first, keeping the common planes); the
// placement with the fewest leaves wins, then the smallest m. The hosts
// are then spread so the largest share of a leaf is as small as the
// chosen leaves allow: that share is the number of planes held at every
// leaf.
func (v view) placeIsolated(n, maxLeaves int) []int32 {
	t := v.o.t
	if n <= 0 || v.total() < n {
		return nil
	}
	if n <= t.maxGroupSize {
		if g := v.bestGroup(n); g >= 0 {
			return v.pick(g, int32(n), nil)
		}
	}
	if maxLeaves == 1 || len(t.links.names) == 0 || len(t.levels) == 0 {
		return nil
	}
	var best []gfree
	for _, ni := range t.levels[0] {
		nd := &t.nodes[ni]
		if nd.synth || int(v.node(ni)) < n {
			continue
		}
		for m := 1; m <= t.maxGroupSize; m++ {
			gs := v.isolatedGroups(nd.glo, nd.ghi, n, m)
			if gs != nil && (best == nil || len(gs) < len(best)) {
				best = gs
			}
		}
	}
	if best == nil || (maxLeaves > 0 && len(best) > maxLeaves) {
		return nil
	}
	// Water-fill: the smallest share M with sum of min(cap, M) >= n, then
	// give back the excess from the last (smallest) groups.
	share := int32(1)
	for {
		sum := 0
		for _, e := range best {
			sum += int(min(e.f, share))
		}
		if sum >= n {
			break
		}
		share++
	}
	take := make([]int32, len(best))
	excess := int32(-n)
	for i, e := range best {
		take[i] = min(e.f, share)
		excess += take[i]
	}
	for i := len(best) - 1; i >= 0 && excess > 0; i-- {
		d := min(take[i], excess)
		take[i] -= d
		excess -= d
	}
	out := make([]int32, 0, n)
	for i, e := range best {
		if take[i] > 0 {
			out = v.pick(e.g, take[i], out)
		}
	}
	slices.Sort(out)
	return out
}

// isolatedGroups is the greedy of placeIsolated for one cap m under the
// groups [lo, hi): groups with their usable hosts (at most m each), or nil.
func (v view) isolatedGroups(lo, hi int32, n, m int) []gfree {
	out, sum := v.gather(lo, hi, n, m)
	if sum < n {
		return nil
	}
	return out
}

// gather takes groups of [lo, hi) with at least m free planes, fullest
// first (at most m hosts each), while they keep m free planes in common,
// until their hosts reach n; it returns them and their hosts.
func (v view) gather(lo, hi int32, n, m int) (out []gfree, sum int) {
	var cand []gfree
	var fp []int32
	for g := lo; g < hi; g++ {
		f := v.group(g)
		if f == 0 {
			continue
		}
		if fp = v.o.freePlanes(g, fp[:0]); len(fp) >= m {
			cand = append(cand, gfree{min(f, int32(m)), g})
		}
	}
	slices.SortStableFunc(cand, func(a, b gfree) int { return int(b.f - a.f) })
	var common, next []int32
	for _, c := range cand {
		fp = v.o.freePlanes(c.g, fp[:0])
		if out == nil {
			next = append(next[:0], fp...)
		} else {
			next = intersect(append(next[:0], common...), fp)
		}
		if len(next) < m {
			continue
		}
		common = append(common[:0], next...)
		out = append(out, c)
		if sum += int(c.f); sum >= n {
			break
		}
	}
	return out, sum
}

// maxIsolated is the largest n placeIsolated could ever place on v with
// every cable free: the largest group, or per level-2 switch and cap m the
// hosts the greedy gathers over two or more groups.
func (v view) maxIsolated() int {
	t := v.o.t
	best := t.maxGroupSize
	if len(t.levels) == 0 {
		return best
	}
	for _, ni := range t.levels[0] {
		nd := &t.nodes[ni]
		if nd.synth {
			continue
		}
		for m := 1; m <= t.maxGroupSize; m++ {
			if gs, sum := v.gather(nd.glo, nd.ghi, t.NumHosts()+1, m); len(gs) >= 2 {
				best = max(best, sum)
			}
		}
	}
	return best
}

// linkNames names link ids (for Assignment.Links).
func (t *Tree) linkNames(ids []int32) []string {
	if len(ids) == 0 {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.links.names[id]
	}
	return out
}

// placeIsolatedOn is placeOn for a link-isolated request: the topology
// placement of placeIsolated, or, under first fit, the first free hosts if
// their leaves have the uplinks (the topology-blind baseline, isolated).
// A job waiting for --switches keeps that limit.
func (ps *pass) placeIsolatedOn(v view, r *Request, t time.Time, limit int) []int32 {
	if ps.p.Placement == PlaceFirstFit {
		hs := v.firstFit(r.Nodes)
		if _, ok := v.o.linksFor(hs); hs == nil || !ok {
			return nil
		}
		return hs
	}
	ml := ps.maxLeaves(r, t)
	if limit > 0 && (ml == 0 || limit < ml) {
		ml = limit
	}
	return v.placeIsolated(r.Nodes, ml)
}
