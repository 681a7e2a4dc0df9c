package scheduler

import (
	"slices"
	"strings"
)

// The unplaceable tail of a long queue costs O(1) per job: within one
// pass the free hosts only ever shrink (a start takes hosts, a hold moves
// free hosts to the held set; everything else a placement frees for a look
// is undone before it returns), and whether a placement of n hosts on at
// most L leaf groups exists is monotone: fewer free hosts or more of them
// needed can only make it fail. So once a job of n nodes finds no
// placement, every later job of n or more nodes that asks the same
// question (same features, same leaf limit, same side of the head's hold)
// finds none either, and the pass skips the search. On the 10,000-job
// benchmark (BenchmarkSchedule10k) about two thirds of the queue cannot
// start, and each of those jobs used to cost a scan of the fabric's leaf
// groups.
//
// The memo lives for one pass only, so Schedule stays a pure function of
// its snapshot: same snapshot, same plan, memo or not.

// failMemoOff turns the memo off; only tests set it, to check that a pass
// with the memo returns exactly the plan a pass without it does.
var failMemoOff bool

// failKey is the question a placement answered, but for the node count.
type failKey struct {
	features string // the request's features, which fix its view
	limit    int    // the leaf-group cap tryPlace was given (0: none)
	short    bool   // the job ends before the head's hold (held hosts usable)
}

// failMemo maps a question to the fewest nodes that found no placement.
type failMemo map[failKey]int

// memoKey is r's question, and false when r's answer does not follow from
// another job's: a switch limit (it depends on the job's own submit time),
// link isolation (uplinks are not monotone in the node count the way hosts
// are), or a reservation r would overlap (which hosts that hides depends on
// r's own start and end).
func (ps *pass) memoKey(r *Request, head *hold, limit int) (failKey, bool) {
	if r.Switches > 0 || r.isolated() || r.Reservation != "" {
		return failKey{}, false
	}
	end := ps.now.Add(r.walltime())
	for _, rv := range ps.res {
		if rv.conflicts(r, ps.now, end) {
			return failKey{}, false
		}
	}
	short := head != nil && !end.After(head.at)
	return failKey{features: strings.Join(r.Features, "\x00"), limit: limit, short: short}, true
}

// tryPlaceMemo is tryPlace that skips a search the memo already answers
// and records the searches that fail. A placement the head's spare count
// refused (tryPlace, EASY by count) is recorded only when every host r may
// take is one the head may take too: then it used all r.Nodes of the
// spare, which only shrinks, and a larger job uses more. Otherwise how
// many of its hosts count against the spare is not monotone in its size.
func (ps *pass) tryPlaceMemo(m failMemo, r *Request, head *hold, limit int) []int32 {
	key, ok := ps.memoKey(r, head, limit)
	ok = ok && !failMemoOff
	if ok {
		if n, seen := m[key]; seen && r.Nodes >= n {
			return nil
		}
	}
	hs, placed := ps.tryPlaceWhy(r, head, limit)
	if hs == nil && ok && (!placed || ps.headTakesAll(r, head)) {
		if n, seen := m[key]; !seen || r.Nodes < n {
			m[key] = r.Nodes
		}
	}
	return hs
}

// headTakesAll reports whether the head job may use every host r may: each
// feature class r's view accepts is one the head's accepts.
func (ps *pass) headTakesAll(r *Request, head *hold) bool {
	if head == nil {
		return false
	}
	if head.v.all {
		return true
	}
	for _, c := range ps.occ.view(r.Features).elig {
		if !slices.Contains(head.v.elig, c) {
			return false
		}
	}
	return true
}
