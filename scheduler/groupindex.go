package scheduler

// Leaf groups by free count. bestGroup's question (the group with the
// fewest free hosts that still holds n, then the fullest parent, then the
// first) used to be a scan of every leaf group for every job placed: 2,500
// groups on a 100,000-node fabric, times the 3,000 jobs a long queue starts
// in one pass. The index keeps, per feature class, the groups bucketed by
// their free count, updated as hosts are taken and returned (O(1) per
// host), so the question looks at the first non-empty bucket at or above n
// only. It is built on the first question a pass asks (O(groups)), not
// while the snapshot is loaded, so passes that never ask pay nothing.

// classIndex buckets one feature class's leaf groups by free count.
type classIndex struct {
	byFree [][]int32 // free count -> groups with that many free hosts
	pos    []int32   // group -> its position in its bucket
}

// classIndexFor returns class c's index, building it on first use.
func (o *occupancy) classIndexFor(c int32) *classIndex {
	if o.gidx == nil {
		o.gidx = make([]*classIndex, len(o.gfree))
	}
	if x := o.gidx[c]; x != nil {
		return x
	}
	x := &classIndex{byFree: make([][]int32, o.t.maxGroupSize+1), pos: make([]int32, len(o.t.groups))}
	for g, f := range o.gfree[c] {
		x.pos[g] = int32(len(x.byFree[f]))
		x.byFree[f] = append(x.byFree[f], int32(g))
	}
	o.gidx[c] = x
	return x
}

// move re-buckets group g whose free count went from old to now.
func (x *classIndex) move(g, old, now int32) {
	b := x.byFree[old]
	i := x.pos[g]
	last := b[len(b)-1]
	b[i] = last
	x.pos[last] = i
	x.byFree[old] = b[:len(b)-1]
	x.pos[g] = int32(len(x.byFree[now]))
	x.byFree[now] = append(x.byFree[now], g)
}

// indexedBestGroup is bestGroup for a view of one feature class and no
// image preference, by the index: the first non-empty bucket at or above
// n holds the fewest free hosts that suffice; among its groups the one
// with the fullest parent, then the lowest index, as the scan picks.
func (v view) indexedBestGroup(n int) int32 {
	t := v.o.t
	x := v.o.classIndexFor(v.elig[0])
	for f := max(n, 1); f < len(x.byFree); f++ {
		best, bp := int32(-1), int32(0)
		for _, g := range x.byFree[f] {
			pf := v.node(t.groups[g].parent)
			if best < 0 || pf < bp || pf == bp && g < best {
				best, bp = g, pf
			}
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}

// bestGroupScan makes bestGroup always scan; only tests set it, to check
// the index answers as the scan does.
var bestGroupScan bool

// byFreeDesc orders list (built in group order) by free count, largest
// first, groups of equal count in group order: the order spread's sort
// gives without an image to prefer, by a counting sort instead of a
// comparison sort (a 1,024-node job spreads over all 2,500 leaves of a
// 100,000-node fabric). The result is the occupancy's scratch, valid
// until the next call.
func (v view) byFreeDesc(list []gfree) []gfree {
	cnt := v.o.bucket
	clear(cnt)
	for _, e := range list {
		cnt[e.f]++
	}
	// start[f]: where groups with f free begin, counting from the largest.
	pos := int32(0)
	for f := len(cnt) - 1; f >= 0; f-- {
		c := cnt[f]
		cnt[f] = pos
		pos += c
	}
	out := v.o.lists[1]
	if cap(out) < len(list) {
		out = make([]gfree, len(list))
		v.o.lists[1] = out
	}
	out = out[:len(list)]
	for _, e := range list {
		out[cnt[e.f]] = e
		cnt[e.f]++
	}
	return out
}
