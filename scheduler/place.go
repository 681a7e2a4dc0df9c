package scheduler

import (
	"math"
	"slices"
	"sort"
)

// noFit is "no placement": more groups than any tree has.
const noFit = math.MaxInt32

// place chooses n free eligible hosts topology-aware, or returns nil.
//
// The objective, in order: (1) span as few leaf groups as possible, since
// every extra leaf puts the job's traffic on the spines; (2) among
// placements with that many leaves, stay under the lowest switch, so
// traffic crosses as few levels as it can; (3) inside that, take the
// tightest fit: the subtree, and then the leaves, with the fewest free
// hosts that still suffice, so large free blocks stay whole for the large
// jobs behind this one. maxLeaves > 0 rejects placements over that many
// leaf groups (--switches).
//
// Cost: O(groups × levels) per call plus the hosts picked; never a scan of
// all hosts.
func (v view) place(n, maxLeaves int) []int32 {
	return v.placeUnder(n, maxLeaves, noFit)
}

// placeUnder is place restricted to subtrees of at most level maxLevel:
// the job stays under one switch of that level.
func (v view) placeUnder(n, maxLeaves, maxLevel int) []int32 {
	t := v.o.t
	if n <= 0 || v.total() < n {
		return nil
	}
	if n <= t.maxGroupSize {
		g := int32(-1)
		if v.jobEnd != 0 && v.o.end != nil {
			g = v.alignedGroup(n)
		} else {
			g = v.bestGroup(n)
		}
		if g >= 0 {
			return v.pick(g, int32(n), nil)
		}
	}
	if maxLeaves == 1 {
		return nil
	}
	lower := (n + t.maxGroupSize - 1) / t.maxGroupSize
	bestK, bestLevel, bestFree, best := noFit, 0, int32(0), int32(-1)
	for li, lv := range t.levels {
		if li+2 > maxLevel {
			break
		}
		for _, ni := range lv {
			nd := &t.nodes[ni]
			f := v.node(ni)
			if nd.synth || int(f) < n {
				continue
			}
			k := v.minGroups(nd.glo, nd.ghi, n)
			if k < bestK || (k == bestK && li == bestLevel && f < bestFree) {
				bestK, bestLevel, bestFree, best = k, li, f, ni
			}
		}
		if bestK == lower {
			break
		}
	}
	if best < 0 || (maxLeaves > 0 && bestK > maxLeaves) {
		return nil
	}
	nd := &t.nodes[best]
	return v.spread(nd.glo, nd.ghi, n, bestK)
}

// bestGroup is the leaf group with the fewest free eligible hosts that
// still holds n, preferring one whose parent is fuller (keeps empty pods
// empty); -1 if none.
func (v view) bestGroup(n int) int32 {
	if len(v.elig) == 1 && v.img == "" && !bestGroupScan {
		return v.indexedBestGroup(n) // groupindex.go
	}
	t := v.o.t
	best, bf, bp := int32(-1), int32(0), int32(0)
	for g := range t.groups {
		f := v.group(int32(g))
		if int(f) < n || (best >= 0 && f > bf) {
			continue
		}
		pf := v.node(t.groups[g].parent)
		if best < 0 || f < bf || pf < bp || pf == bp && v.moreCarriers(int32(g), best) {
			best, bf, bp = int32(g), f, pf
		}
	}
	return best
}

// minGroups is the fewest leaf groups in [lo, hi) whose free eligible
// hosts add up to n: take the fullest first. A counting sort by free count
// keeps it linear in the groups.
func (v view) minGroups(lo, hi int32, n int) int {
	b := v.o.bucket
	clear(b)
	for g := lo; g < hi; g++ {
		if f := v.group(g); f > 0 {
			b[f]++
		}
	}
	k, sum := 0, 0
	for c := len(b) - 1; c >= 1 && sum < n; c-- {
		if b[c] == 0 {
			continue
		}
		need := (n - sum + c - 1) / c
		take := min(need, int(b[c]))
		sum += take * c
		k += take
	}
	if sum < n {
		return noFit
	}
	return k
}

type gfree struct{ f, g int32 }

// spread takes n hosts from exactly k leaf groups in [lo, hi) (k is
// minGroups), preferring small groups: each step uses the smallest group
// that still lets the remaining k-1 steps finish with the largest groups,
// and empties it; the last step is a best fit. Partly used leaves get used
// up and whole leaves stay whole.
func (v view) spread(lo, hi int32, n, k int) []int32 {
	list := v.o.lists[0][:0]
	for g := lo; g < hi; g++ {
		if f := v.group(g); f > 0 {
			list = append(list, gfree{f, g})
		}
	}
	v.o.lists[0] = list[:0]
	if v.img == "" {
		list = v.byFreeDesc(list) // groupindex.go: same order, linear
	} else {
		slices.SortFunc(list, func(a, b gfree) int {
			if a.f != b.f {
				return int(b.f - a.f)
			}
			if c := v.carriers(b.g) - v.carriers(a.g); c != 0 {
				return int(c) // equal groups: the one carrying more of the image first
			}
			return int(a.g - b.g)
		})
	}
	out := make([]int32, 0, n)
	rem := int32(n)
	for need := k; need > 0 && rem > 0; need-- {
		var p int32
		for _, e := range list[:need-1] {
			p += e.f
		}
		thr := rem - p
		j := sort.Search(len(list), func(i int) bool { return list[i].f < thr }) - 1
		j = max(j, need-1)
		for j > need-1 && list[j-1].f == list[j].f {
			j--
		}
		take := min(list[j].f, rem)
		out = v.pick(list[j].g, take, out)
		rem -= take
		list = slices.Delete(list, j, j+1)
	}
	slices.Sort(out)
	return out
}

// firstFit takes the first n free eligible hosts in tree (node name) order,
// whatever leaves they are on: the topology-oblivious baseline.
func (v view) firstFit(n int) []int32 {
	if n <= 0 || v.total() < n {
		return nil
	}
	out := make([]int32, 0, n)
	rem := int32(n)
	for g := range v.o.t.groups {
		f := v.group(int32(g))
		if f == 0 {
			continue
		}
		take := min(f, rem)
		out = v.pick(int32(g), take, out)
		if rem -= take; rem == 0 {
			break
		}
	}
	return out
}

// pick appends the first x free eligible hosts of group g to out (those
// not marked last first).
func (v view) pick(g, x int32, out []int32) []int32 {
	gr := &v.o.t.groups[g]
	start := len(out)
	if v.img != "" {
		out, x = v.pickCarriers(g, x, out) // image.go
	}
	for h := gr.lo; h < gr.hi && x > 0; h++ {
		if v.img != "" && slices.Contains(out[start:], h) {
			continue
		}
		if v.o.free[h] && v.eligible(h) && (v.last == nil || !v.last[h]) {
			out = append(out, h)
			x--
		}
	}
	if v.last != nil && x > 0 {
		for h := gr.lo; h < gr.hi && x > 0; h++ {
			if v.o.free[h] && v.eligible(h) && v.last[h] {
				out = append(out, h)
				x--
			}
		}
	}
	if v.last != nil || v.img != "" {
		slices.Sort(out[start:])
	}
	return out
}
