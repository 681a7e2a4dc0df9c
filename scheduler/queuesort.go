package scheduler

import (
	"cmp"
	"slices"

	"github.com/ibex-hpc/ibex/model"
)

// qkey is what the queue order compares, copied out of the job once: a
// comparison that followed two job pointers and compared two time.Time
// values took ~3 ms of a 10,000-job pass's sort. idx, last, makes the
// order total, so the unstable sort below gives the order a stable sort
// by priority, submission and job ID gives (a pass may list an array
// record several times under one ID: pipeline.go).
type qkey struct {
	prio float64
	sec  int64 // SubmitTime: seconds and nanoseconds, time.Compare's order
	nsec int32
	idx  int32
	id   uint64
}

func compareQ(a, b qkey) int {
	if a.prio != b.prio {
		if a.prio > b.prio {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.sec, b.sec); c != 0 {
		return c
	}
	if c := cmp.Compare(a.nsec, b.nsec); c != 0 {
		return c
	}
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// sortQueue orders idx (0..len(jobs)-1) by priority, highest first (prio
// nil: all equal), then submission time, then job ID, then position. It
// leaves a queue already in that order as it is without sorting.
func sortQueue(jobs []*model.Job, prio []float64, idx []int32) []int32 {
	keys := make([]qkey, len(jobs))
	sorted := true
	for i, j := range jobs {
		k := qkey{sec: j.SubmitTime.Unix(), nsec: int32(j.SubmitTime.Nanosecond()), idx: int32(i), id: j.ID}
		if prio != nil {
			k.prio = prio[i]
		}
		keys[i] = k
		if i > 0 && sorted && compareQ(keys[i-1], k) > 0 {
			sorted = false
		}
	}
	if sorted {
		return idx
	}
	if prio == nil || !sortByPrio(keys) { // queueradix.go
		slices.SortFunc(keys, compareQ)
	}
	for i, k := range keys {
		idx[i] = k.idx
	}
	return idx
}
