package scheduler

import "slices"

// occupancy is what is free on a Tree, kept as counts per leaf group and
// per internal switch for every feature class. Taking or returning a host
// updates its group and its ancestors (a handful of switches), so every
// placement question ("how many free eligible hosts under this switch?")
// is answered in O(classes) without looking at hosts.
type occupancy struct {
	t     *Tree
	free  []bool    // host -> free
	gfree [][]int32 // class -> group -> free hosts
	nfree [][]int32 // class -> internal node -> free hosts
	// bucket is scratch for counting sorts by free count (0..maxGroupSize).
	bucket []int32
	// lfree: link id -> not held by an isolated job (links.go).
	lfree []bool
	// end is when each busy host comes back, by the estimates (align.go);
	// nil unless the policy aligns ends.
	end []int64
	// gidx is, per class, the groups by free count, built on first use
	// (groupindex.go); nil entries are not built.
	gidx []*classIndex
	// lists is scratch for spread's list of groups and its sorted copy
	// (place.go): a 1,024-node job lists all 2,500 leaves of a
	// 100,000-node fabric, and a pass spreads many. Not copied by clone.
	lists [2][]gfree
	// plain is the eligible classes of a request without features, made
	// on first use: most requests have none, and a pass asks for their
	// view thousands of times. Read-only, so clones share it.
	plain []int32
}

func newOccupancy(t *Tree) *occupancy {
	o := &occupancy{t: t, free: make([]bool, len(t.hostNames)), bucket: make([]int32, t.maxGroupSize+1)}
	o.gfree = make([][]int32, len(t.classes))
	o.nfree = make([][]int32, len(t.classes))
	o.lfree = make([]bool, len(t.links.names))
	for i := range o.lfree {
		o.lfree[i] = true
	}
	for c := range t.classes {
		o.gfree[c] = make([]int32, len(t.groups))
		o.nfree[c] = make([]int32, len(t.nodes))
	}
	return o
}

// clone copies the occupancy (for looking into the future without
// disturbing the present).
func (o *occupancy) clone() *occupancy {
	c := &occupancy{t: o.t, free: append([]bool(nil), o.free...), bucket: make([]int32, len(o.bucket)), lfree: append([]bool(nil), o.lfree...),
		plain: o.plain}
	if o.end != nil {
		c.end = append([]int64(nil), o.end...)
	}
	c.gfree = make([][]int32, len(o.gfree))
	c.nfree = make([][]int32, len(o.nfree))
	for i := range o.gfree {
		c.gfree[i] = append([]int32(nil), o.gfree[i]...)
		c.nfree[i] = append([]int32(nil), o.nfree[i]...)
	}
	return c
}

// cloneInto is clone into reused, an occupancy of the same tree that no
// one uses any more (a finished pass's): the same copy without allocating.
// Everything built on first use (gidx) starts over; scratch stays.
func (o *occupancy) cloneInto(reused *occupancy) *occupancy {
	c := reused
	c.free = append(c.free[:0], o.free...)
	c.lfree = append(c.lfree[:0], o.lfree...)
	c.end = nil
	if o.end != nil {
		c.end = append([]int64(nil), o.end...)
	}
	for i := range o.gfree {
		c.gfree[i] = append(c.gfree[i][:0], o.gfree[i]...)
		c.nfree[i] = append(c.nfree[i][:0], o.nfree[i]...)
	}
	c.gidx = nil
	if c.plain == nil {
		c.plain = o.plain
	}
	return c
}

// set marks host h free or not and updates the counts; it is a no-op if the
// host is already in that state, so callers may over-approximate.
func (o *occupancy) set(h int32, free bool) {
	if o.free[h] == free {
		return
	}
	o.free[h] = free
	d := int32(-1)
	if free {
		d = 1
	}
	c := o.t.hostClass[h]
	g := o.t.hostGroup[h]
	o.gfree[c][g] += d
	if o.gidx != nil && o.gidx[c] != nil {
		o.gidx[c].move(g, o.gfree[c][g]-d, o.gfree[c][g])
	}
	nf := o.nfree[c]
	for n := o.t.groups[g].parent; n >= 0; n = o.t.nodes[n].parent {
		nf[n] += d
	}
}

// setAll applies set to every host in hs and returns the ones that changed,
// so a temporary change can be undone exactly.
func (o *occupancy) setAll(hs []int32, free bool, changed []int32) []int32 {
	for _, h := range hs {
		if o.free[h] != free {
			o.set(h, free)
			changed = append(changed, h)
		}
	}
	return changed
}

// view is an occupancy restricted to the feature classes one request
// accepts.
type view struct {
	o    *occupancy
	elig []int32 // eligible classes; all classes when the request has no features
	all  bool
	// last, if set, marks hosts to take only when a group has no others:
	// a hold for the future takes nodes that are busy now before nodes that
	// are free now, which backfill can still use.
	last []bool
	// img and imgs, when img is set, make pick and the group choices
	// prefer hosts that carry the request's image (image.go).
	img  string
	imgs []string
	// jobEnd, when set, makes the choice of a single leaf align end times
	// (align.go).
	jobEnd int64
}

func (o *occupancy) view(features []string) view {
	none := len(features) == 0
	v := view{o: o, all: none && !o.t.restricted}
	if none && o.plain != nil {
		v.elig = o.plain
		return v
	}
	for c, fs := range o.t.classes {
		if none && !slices.Contains(fs, InfraFeature) || !none && hasAll(fs, features) {
			v.elig = append(v.elig, int32(c))
		}
	}
	if none {
		o.plain = slices.Clip(v.elig)
	}
	return v
}

// InfraFeature marks hosts that are infrastructure (login, storage, ...)
// an admin labelled: they go only to jobs that ask for features they have,
// never to a job that asks for none. Tenants cannot ask for it themselves
// (feature names have no '!').
const InfraFeature = "!infra"

// hasAll reports whether the sorted set have contains every element of want.
func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (v view) eligible(h int32) bool {
	if v.all {
		return true
	}
	c := v.o.t.hostClass[h]
	for _, e := range v.elig {
		if e == c {
			return true
		}
	}
	return false
}

func (v view) group(g int32) int32 {
	if len(v.elig) == 1 {
		return v.o.gfree[v.elig[0]][g]
	}
	var n int32
	for _, c := range v.elig {
		n += v.o.gfree[c][g]
	}
	return n
}

func (v view) node(i int32) int32 {
	if len(v.elig) == 1 {
		return v.o.nfree[v.elig[0]][i]
	}
	var n int32
	for _, c := range v.elig {
		n += v.o.nfree[c][i]
	}
	return n
}

// total is the number of free eligible hosts.
func (v view) total() int { return int(v.node(0)) }
