package scheduler

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMergeReleases: appending releases between looks and merging them
// into the sorted prefix gives the list a full sort gives, entry for
// entry (the order within one instant aside).
func TestMergeReleases(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 8))
	byAtHost := func(a, b release) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.host, b.host)
	}
	for iter := range 200 {
		ps := &pass{}
		var all []release
		for step := range 20 {
			for range rng.IntN(30) {
				r := release{at: int64(rng.IntN(50)), host: int32(len(all))}
				all = append(all, r)
				ps.rel = append(ps.rel, r)
			}
			ps.sortReleases()
			if !slices.IsSortedFunc(ps.rel, func(a, b release) int { return cmp.Compare(a.at, b.at) }) {
				t.Fatalf("iter %d step %d: not in time order: %v", iter, step, ps.rel)
			}
			got := slices.Clone(ps.rel)
			want := slices.Clone(all)
			slices.SortFunc(got, byAtHost)
			slices.SortFunc(want, byAtHost)
			if !slices.Equal(got, want) {
				t.Fatalf("iter %d step %d: releases lost or duplicated", iter, step)
			}
		}
	}
}
