package scheduler

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestGroupIndexMatchesScan: as hosts are taken and returned at random on
// fabrics with mixed leaf sizes and feature classes, the index picks
// exactly the group the scan picks, for every size and class.
func TestGroupIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 6))
	defer func() { bestGroupScan = false }()
	checked := 0
	for iter := range 40 {
		tr := memoTree(t, rng) // two classes: the gpu view is one
		if iter%2 == 1 {
			var err error // one class: the plain view is one
			if tr, err = SyntheticTree(20+rng.IntN(60), 3+rng.IntN(6), 2+rng.IntN(3)); err != nil {
				t.Fatal(err)
			}
		}
		o := newOccupancy(tr)
		for h := range tr.hostNames {
			o.set(int32(h), iter%4 < 2 || rng.IntN(2) == 0) // half the fabrics start empty
		}
		views := []view{o.view(nil), o.view([]string{"gpu"})}
		for step := range 200 {
			h := int32(rng.IntN(len(tr.hostNames)))
			o.set(h, !o.free[h])
			for _, v := range views {
				if len(v.elig) != 1 {
					continue
				}
				for n := 1; n <= tr.maxGroupSize; n++ {
					bestGroupScan = true
					want := v.bestGroup(n)
					bestGroupScan = false
					if got := v.bestGroup(n); got != want {
						t.Fatalf("iter %d step %d n %d: index picks group %d, scan %d", iter, step, n, got, want)
					}
					checked++
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no single-class view: the test checks nothing")
	}
}

// TestGroupIndexSamePlan: whole passes plan the same with the index as
// with the scan (the random queues of TestFailMemoSamePlan).
func TestGroupIndexSamePlan(t *testing.T) {
	defer func() { bestGroupScan = false }()
	rng := rand.New(rand.NewPCG(17, 7))
	for iter := range 100 {
		s := randomSnapshot(t, rng)
		for _, pol := range Policies() {
			bestGroupScan = true
			want := Schedule(s, pol, t0)
			bestGroupScan = false
			if got := Schedule(s, pol, t0); !reflect.DeepEqual(got, want) {
				t.Fatalf("iter %d %s: with the index\n%+v\nwith the scan\n%+v", iter, pol.Name, got, want)
			}
		}
	}
}

// TestByFreeDesc: the counting sort orders as spread's comparison sort.
func TestByFreeDesc(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 10))
	tr, err := SyntheticTree(200, 8, 5)
	if err != nil {
		t.Fatal(err)
	}
	v := newOccupancy(tr).view(nil)
	for range 200 {
		var list []gfree
		for g := range int32(len(tr.groups)) {
			if rng.IntN(3) > 0 {
				list = append(list, gfree{int32(1 + rng.IntN(tr.maxGroupSize)), g})
			}
		}
		want := slices.Clone(list)
		slices.SortFunc(want, func(a, b gfree) int {
			if a.f != b.f {
				return int(b.f - a.f)
			}
			return int(a.g - b.g)
		})
		if got := v.byFreeDesc(list); !slices.Equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
