package scheduler

import "slices"

// The leaf lower bound of a job is the fewest leaf groups whose hosts add
// up to its node count, on the fabric's real group sizes (mixed sizes and
// partly filled leaves included): no placement can span fewer, and every
// leaf beyond it puts more of the job's traffic on the spines. It is the
// reading trace replays judge placement by, and what the compact policy
// options (Policy.BackfillAtBound, Policy.BoundWait) aim at.

// boundIndex caches, per tree, the group sizes largest first as prefix
// sums (all classes), and per feature class the hosts in each group.
type boundIndex struct {
	prefix []int     // prefix sums of group sizes, largest first
	gcap   [][]int32 // class -> group -> hosts
}

func (t *Tree) buildBounds() {
	sizes := make([]int, len(t.groups))
	t.bounds.gcap = make([][]int32, len(t.classes))
	for c := range t.classes {
		t.bounds.gcap[c] = make([]int32, len(t.groups))
	}
	for g, gr := range t.groups {
		sizes[g] = int(gr.hi - gr.lo)
		for h := gr.lo; h < gr.hi; h++ {
			t.bounds.gcap[t.hostClass[h]][g]++
		}
	}
	slices.SortFunc(sizes, func(a, b int) int { return b - a })
	t.bounds.prefix = make([]int, len(sizes))
	sum := 0
	for i, s := range sizes {
		sum += s
		t.bounds.prefix[i] = sum
	}
}

// LowerBound is the fewest leaf groups that can hold n hosts, or
// NumLeaves()+1 if the tree has fewer than n.
func (t *Tree) LowerBound(n int) int {
	if n <= 0 {
		return 0
	}
	i, _ := slices.BinarySearch(t.bounds.prefix, n)
	return i + 1
}

// bound is the leaf lower bound of n hosts among the hosts the view
// accepts (all of the tree's, or those with the request's features); noFit
// if there are not that many. O(1) without features, O(groups) with.
func (v view) bound(n int) int {
	t := v.o.t
	if v.all || len(v.elig) == len(t.classes) {
		if b := t.LowerBound(n); b <= len(t.groups) {
			return b
		}
		return noFit
	}
	b := v.o.bucket
	clear(b)
	for g := range t.groups {
		var c int32
		for _, e := range v.elig {
			c += t.bounds.gcap[e][g]
		}
		if c > 0 {
			b[c]++
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
