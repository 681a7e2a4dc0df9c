package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestSortQueueSameAsStableSort: the key sort orders a queue exactly as
// the stable sort by the job comparison it replaced, on queues with equal
// priorities, equal submission times (to the nanosecond and not), jobs
// listed twice (array records) and queues already in order.
func TestSortQueueSameAsStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 17))
	for iter := range 500 {
		n := rng.IntN(200)
		jobs := make([]*model.Job, 0, n)
		for range n {
			if len(jobs) > 0 && rng.IntN(8) == 0 {
				jobs = append(jobs, jobs[rng.IntN(len(jobs))]) // an array record again
				continue
			}
			sub := t0.Add(time.Duration(rng.IntN(20)) * time.Second)
			if rng.IntN(3) == 0 {
				sub = sub.Add(time.Duration(rng.IntN(3)) * time.Nanosecond)
			}
			if rng.IntN(10) == 0 {
				sub = sub.AddDate(-300, 0, 0) // before 1970
			}
			jobs = append(jobs, &model.Job{ID: uint64(1 + rng.IntN(40)), SubmitTime: sub})
		}
		var prio []float64
		if iter%2 == 0 {
			prio = make([]float64, n)
			for i := range prio {
				prio[i] = float64(rng.IntN(4)) / 4
			}
		}
		if iter%5 == 0 {
			prio = nil
			slices.SortStableFunc(jobs, func(a, b *model.Job) int { return compareJobs(a, b) })
		}
		want := make([]int32, n)
		got := make([]int32, n)
		for i := range want {
			want[i], got[i] = int32(i), int32(i)
		}
		slices.SortStableFunc(want, refQueueCmp(jobs, prio))
		got = sortQueue(jobs, prio, got)
		if !slices.Equal(got, want) {
			t.Fatalf("iter %d: got %v, want %v", iter, got, want)
		}
	}
}

// refQueueCmp is the queue comparison as queue had it before the keys.
func refQueueCmp(jobs []*model.Job, prio []float64) func(a, b int32) int {
	return func(a, b int32) int {
		if prio != nil && prio[a] != prio[b] {
			if prio[a] > prio[b] {
				return -1
			}
			return 1
		}
		return compareJobs(jobs[a], jobs[b])
	}
}

func compareJobs(ja, jb *model.Job) int {
	if c := ja.SubmitTime.Compare(jb.SubmitTime); c != 0 {
		return c
	}
	switch {
	case ja.ID < jb.ID:
		return -1
	case ja.ID > jb.ID:
		return 1
	}
	return 0
}
