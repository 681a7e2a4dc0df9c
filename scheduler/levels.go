package scheduler

import (
	"slices"
	"strconv"
)

// Switch levels: level 1 is the leaf groups, level 2 the switches right
// above them (the pods of a three-level fabric, the whole fabric on a
// leaf/spine one), and so on up to Levels(), the root. --switches
// LEVEL:N limits a job to N switches of one level.

// MaxUnder is the most hosts under one switch of the given level: the
// largest leaf group at level 1, every host at Levels() and above. It
// bounds what --switches LEVEL:N can ever hold.
func (t *Tree) MaxUnder(level int) int {
	if level <= 1 {
		return t.maxGroupSize
	}
	if level >= t.Levels() || level-2 >= len(t.levels) {
		return len(t.hostNames)
	}
	most := 0
	for _, ni := range t.levels[level-2] {
		nd := &t.nodes[ni]
		if nd.ghi > nd.glo {
			most = max(most, int(t.groups[nd.ghi-1].hi-t.groups[nd.glo].lo))
		}
	}
	return most
}

// LevelName names a level for people: "leaf", "pod" below the root of a
// three-level or deeper tree, else "level N".
func LevelName(level int) string {
	switch level {
	case 0, 1:
		return "leaf"
	case 2:
		return "pod"
	}
	return "level " + strconv.Itoa(level)
}

// placeWithin places n hosts under at most maxSw switches of the given
// level (2 or more), on at most maxLeaves leaf groups (0: any). One switch
// is a placement restricted to subtrees of that level; several are the
// fullest switches of that level that hold n together, and the placement
// among their hosts only. Switches of the level are whole subtrees: leaf
// groups outside any (in an unbalanced tree) are not used.
func (v view) placeWithin(n, maxLeaves, level, maxSw int) []int32 {
	t := v.o.t
	if level >= t.Levels() {
		return v.place(n, maxLeaves)
	}
	if hs := v.placeUnder(n, maxLeaves, level); hs != nil || maxSw == 1 {
		return hs
	}
	type cand struct{ f, ni int32 }
	var cs []cand
	for _, ni := range t.levels[level-2] {
		if f := v.node(ni); f > 0 {
			cs = append(cs, cand{f, ni})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.f != b.f {
			return int(b.f - a.f)
		}
		return int(a.ni - b.ni)
	})
	sum, k := 0, 0
	for k < len(cs) && sum < n {
		sum += int(cs[k].f)
		k++
	}
	if sum < n || k > maxSw {
		return nil
	}
	// Only the chosen switches' hosts are free in a masked copy.
	m := newOccupancy(t)
	for _, c := range cs[:k] {
		nd := &t.nodes[c.ni]
		for h := t.groups[nd.glo].lo; h < t.groups[nd.ghi-1].hi; h++ {
			if v.o.free[h] {
				m.set(h, true)
			}
		}
	}
	mv := v
	mv.o = m
	return mv.place(n, maxLeaves)
}
