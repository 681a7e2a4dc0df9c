package scheduler

import (
	"cmp"
	"slices"
)

// The release list (when busy hosts come back) holds one entry per busy
// host: some 50,000 on a half-busy 100,000-node fabric. Every job a pass
// starts appends its hosts, and every look into the future needs the list
// in time order. Sorting the whole list again after each start made the
// look-aheads of a long queue O(busy hosts × log) each; instead the sorted
// prefix stays sorted and only the entries appended since are sorted and
// merged in, O(busy hosts) per look. The order of releases at the same
// instant does not matter: every reader applies all releases up to a time
// together.

// mergeReleases sorts ps.rel by time, reusing the sorted prefix.
func (ps *pass) mergeReleases() {
	k := ps.relSorted
	if k >= len(ps.rel) {
		return
	}
	byAt := func(a, b release) int { return cmp.Compare(a.at, b.at) }
	if k == 0 {
		slices.SortFunc(ps.rel, byAt)
		ps.relSorted = len(ps.rel)
		return
	}
	tail := append(ps.relTail[:0], ps.rel[k:]...)
	slices.SortFunc(tail, byAt)
	// Merge from the back: the prefix moves right into room the tail left.
	i, j, w := k-1, len(tail)-1, len(ps.rel)-1
	for j >= 0 {
		if i >= 0 && ps.rel[i].at > tail[j].at {
			ps.rel[w] = ps.rel[i]
			i--
		} else {
			ps.rel[w] = tail[j]
			j--
		}
		w--
	}
	ps.relTail = tail
	ps.relSorted = len(ps.rel)
}
