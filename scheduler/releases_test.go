package scheduler

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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

// TestStartTimes: the merged list is the sorted, de-duplicated list of
// every candidate instant up to by, as a full sort of them gives.
func TestStartTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 9))
	for iter := range 500 {
		ps := &pass{now: t0, p: IbexPolicy()}
		for range rng.IntN(40) {
			ps.rel = append(ps.rel, release{at: at(float64(rng.IntN(60) - 10)).UnixNano(), host: int32(rng.IntN(8))})
		}
		for k := range rng.IntN(3) {
			ps.res = append(ps.res, &resv{Reservation: &Reservation{Name: fmt.Sprint(k), End: at(float64(rng.IntN(60) - 10))}})
		}
		r := &Request{Submit: at(-float64(rng.IntN(20)))}
		if rng.IntN(2) == 0 {
			r.Switches, r.SwitchWait = 1, time.Duration(1+rng.IntN(40))*minute
		}
		var by time.Time
		if rng.IntN(2) == 0 {
			by = at(float64(rng.IntN(50)))
		}
		want := []time.Time{t0}
		for _, rl := range ps.rel {
			if rl.at > t0.UnixNano() {
				want = append(want, time.Unix(0, rl.at).In(t0.Location()))
			}
		}
		for _, rv := range ps.res {
			if rv.End.After(t0) {
				want = append(want, rv.End)
			}
		}
		if r.Switches > 0 {
			if e := r.Submit.Add(r.SwitchWait); e.After(t0) {
				want = append(want, e)
			}
		}
		slices.SortFunc(want, func(a, b time.Time) int { return a.Compare(b) })
		want = slices.CompactFunc(want, func(a, b time.Time) bool { return a.Equal(b) })
		if !by.IsZero() {
			want = slices.DeleteFunc(want, func(x time.Time) bool { return x.After(by) })
		}
		got := ps.startTimes(r, by)
		if !slices.EqualFunc(got, want, func(a, b time.Time) bool { return a.Equal(b) }) {
			t.Fatalf("iter %d: start times\n%v\nwant\n%v", iter, got, want)
		}
	}
}

// TestRadixByAt: the radix sort gives the order a stable comparison sort
// gives, entry for entry, over spans from one instant to the whole int64
// range (negative instants included), and lengths around radixMin.
func TestRadixByAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 10))
	byAt := func(a, b release) int { return cmp.Compare(a.at, b.at) }
	var scratch []release
	for iter := range 300 {
		n := rng.IntN(3 * radixMin)
		spans := []int64{1, 50, 48 * int64(time.Hour), 1 << 62}
		span := spans[iter%len(spans)]
		base := rng.Int64N(1<<62) - 1<<61
		rel := make([]release, n)
		for i := range rel {
			at := base + rng.Int64N(span)
			if span == 1<<62 && rng.IntN(2) == 0 {
				at = -at // the whole range
			}
			rel[i] = release{at: at, host: int32(i)}
		}
		want := slices.Clone(rel)
		slices.SortStableFunc(want, byAt)
		scratch = radixByAt(rel, scratch)
		if !slices.Equal(rel, want) {
			t.Fatalf("iter %d (n %d, span %d): radix order differs from a stable sort", iter, n, span)
		}
	}
}
