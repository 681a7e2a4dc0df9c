package scheduler

import (
	"cmp"
	"slices"
	"time"
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
		ps.relTail = radixByAt(ps.rel, ps.relTail) // releasesort.go
		ps.relSorted = len(ps.rel)
		return
	}
	tail := append(ps.relTail[:0], ps.rel[k:]...)
	slices.SortFunc(tail, byAt)
	mergeBack(ps.rel, k, tail)
	ps.relTail = tail
	ps.relSorted = len(ps.rel)
}

// mergeBack merges tail, in time order, into rel[:k], also in time order,
// from the back: the prefix moves right into room the tail left. rel[k:]
// is overwritten (tail is its sorted copy).
func mergeBack(rel []release, k int, tail []release) {
	i, j, w := k-1, len(tail)-1, len(rel)-1
	for j >= 0 {
		if i >= 0 && rel[i].at > tail[j].at {
			rel[w] = rel[i]
			i--
		} else {
			rel[w] = tail[j]
			j--
		}
		w--
	}
}

// startTimes are the instants at which r may first fit, in order and each
// once: now, every release after now, the end of every reservation after
// now and the end of r's switch wait; only those up to by unless by is
// zero. The releases are already in time order (mergeReleases), so only
// the handful of other instants are sorted and merged in, and a look
// bounded by by stops at by instead of listing every release: the
// BoundWait look-aheads of a pass used to build and sort a list of every
// busy host's release each.
func (ps *pass) startTimes(r *Request, by time.Time) []time.Time {
	ps.sortReleases()
	var extra []time.Time
	for _, rv := range ps.res {
		if rv.End.After(ps.now) {
			extra = append(extra, rv.End)
		}
	}
	if r.Switches > 0 {
		wait := r.SwitchWait
		if wait <= 0 {
			wait = ps.p.SwitchWait
		}
		if e := r.Submit.Add(wait); e.After(ps.now) {
			extra = append(extra, e)
		}
	}
	slices.SortFunc(extra, func(a, b time.Time) int { return a.Compare(b) })
	within := func(t time.Time) bool { return by.IsZero() || !t.After(by) }
	times := []time.Time{ps.now}
	last := ps.now
	add := func(t time.Time) {
		if t.After(last) {
			times = append(times, t)
			last = t
		}
	}
	loc, i := ps.now.Location(), 0
	for _, rl := range ps.rel {
		if rl.at <= last.UnixNano() { // last is now or the release before
			continue
		}
		t := time.Unix(0, rl.at).In(loc)
		if !within(t) {
			break
		}
		for ; i < len(extra) && extra[i].Before(t); i++ {
			add(extra[i])
		}
		add(t)
	}
	for ; i < len(extra) && within(extra[i]); i++ {
		add(extra[i])
	}
	return times
}
