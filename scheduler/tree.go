package scheduler

// Tree is the fabric as placement sees it: hosts under leaf groups under
// aggregation switches, any number of levels. It is static (built once per
// fabric, shared read-only by every scheduling pass); what is free lives in
// an occupancy, so a pass costs O(hosts) to set up and O(groups × levels)
// per placement instead of O(hosts) per job.
//
// A leaf group is normally one leaf switch. Hosts whose HCAs are cabled to
// several leaves (rail-optimised GPU nodes, one HCA per rail) form a rail
// group instead: all hosts with the same set of leaves. Rail r of every host
// in a rail group is on the same leaf switch, so a job inside one rail group
// spans exactly one leaf switch per rail, and counting groups is counting
// leaf switches per rail. That is the locality NCCL-style all-reduce over
// rails cares about.
type Tree struct {
	hostNames []string // host index -> name, in tree order (group by group)
	hostIdx   map[string]int32
	hostGroup []int32 // host -> leaf group
	hostClass []int32 // host -> feature class
	classes   [][]string

	groups []group
	nodes  []tnode // internal switches; nodes[0] is the root
	// levels lists internal nodes by level, lowest (2) first, so placement
	// can try the smallest enclosing subtrees first.
	levels       [][]int32
	maxGroupSize int
	unplaced     []string
	bounds       boundIndex
	// restricted: some class carries InfraFeature, so a request without
	// features does not accept every class.
	restricted bool

	// Link isolation (links.go): the uplinks, and the largest job that can
	// run isolated.
	links  linkModel
	isoMax int
}

// group is a leaf group: one leaf switch, or one rail group.
type group struct {
	name   string
	leaves []string // leaf switches: one, or one per rail
	lo, hi int32    // host index range [lo, hi)
	parent int32    // internal node
}

// tnode is an internal switch (or a component of switches, for fabrics
// where every leaf connects to several spines: see topotree).
type tnode struct {
	name     string
	level    int
	parent   int32 // -1 for the root
	glo, ghi int32 // leaf group range [glo, ghi): subtrees are contiguous
	synth    bool  // joins parts the fabric does not connect
}

// NumHosts is the number of placeable hosts.
func (t *Tree) NumHosts() int { return len(t.hostNames) }

// Hosts lists the placeable hosts in tree order (leaf group by leaf group).
func (t *Tree) Hosts() []string { return append([]string(nil), t.hostNames...) }

// NumLeaves is the number of leaf groups.
func (t *Tree) NumLeaves() int { return len(t.groups) }

// Leaf returns the index of the host's leaf group, or false for a host the
// tree does not know.
func (t *Tree) Leaf(host string) (int, bool) {
	i, ok := t.hostIdx[host]
	if !ok {
		return 0, false
	}
	return int(t.hostGroup[i]), true
}

// LeafName names leaf group i: the leaf switch, or "rails:a+b+..." for a
// rail group.
func (t *Tree) LeafName(i int) string { return t.groups[i].name }

// LeafSize is the number of hosts in leaf group i.
func (t *Tree) LeafSize(i int) int { return int(t.groups[i].hi - t.groups[i].lo) }

// Rails is the number of leaf switches behind leaf group i (1 for a plain
// leaf).
func (t *Tree) Rails(i int) int { return len(t.groups[i].leaves) }

// MaxLeafSize is the size of the largest leaf group: the denominator of the
// lower bound on leaves a job must span.
func (t *Tree) MaxLeafSize() int { return t.maxGroupSize }

// Levels is the number of switch levels above the hosts (2 for a leaf/spine
// fat tree, 3 with pods).
func (t *Tree) Levels() int { return t.nodes[0].level }

// Unplaced lists hosts the builder was given without any leaf: they can
// never be placed.
func (t *Tree) Unplaced() []string { return append([]string(nil), t.unplaced...) }

// Features returns the host's features (labels) in sorted order.
func (t *Tree) Features(host string) []string {
	i, ok := t.hostIdx[host]
	if !ok {
		return nil
	}
	return append([]string(nil), t.classes[t.hostClass[i]]...)
}

// PodOf is the switch right above leaf group i: its pod in a three-level
// tree (the pod's aggregation switches), the root in a leaf/spine tree,
// where the whole fabric is one pod.
func (t *Tree) PodOf(leaf int) int { return int(t.groups[leaf].parent) }

// PodSizes lists the number of hosts under each pod (see PodOf), in tree
// order: the denominators of the lower bound on pods a job must span.
func (t *Tree) PodSizes() []int {
	var out []int
	last := int32(-1)
	for _, g := range t.groups {
		if g.parent != last {
			out = append(out, 0)
			last = g.parent
		}
		out[len(out)-1] += int(g.hi - g.lo)
	}
	return out
}

// PodsSpanned counts the distinct pods of the given hosts.
func (t *Tree) PodsSpanned(hosts []string) int {
	seen := make(map[int32]struct{}, 2)
	for _, h := range hosts {
		if i, ok := t.hostIdx[h]; ok {
			seen[t.groups[t.hostGroup[i]].parent] = struct{}{}
		}
	}
	return len(seen)
}

// LeavesSpanned counts the distinct leaf groups of the given hosts; unknown
// hosts are ignored.
func (t *Tree) LeavesSpanned(hosts []string) int {
	seen := make(map[int32]struct{}, 4)
	for _, h := range hosts {
		if i, ok := t.hostIdx[h]; ok {
			seen[t.hostGroup[i]] = struct{}{}
		}
	}
	return len(seen)
}
