package scheduler

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// TestSortByPrioSameAsComparison: on queues long enough for the radix
// sort, with continuous and repeated priorities, negative ones, -0 and +0,
// infinities, equal submission times and jobs listed twice, sortQueue
// orders as the stable sort by the comparison does.
func TestSortByPrioSameAsComparison(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), -1, 1, 1e-300, -1e-300, math.MaxFloat64}
	for iter := range 60 {
		n := prioRadixMin + rng.IntN(3000)
		jobs := make([]*model.Job, 0, n)
		prio := make([]float64, 0, n)
		for range n {
			if len(jobs) > 0 && rng.IntN(10) == 0 {
				i := rng.IntN(len(jobs))
				jobs, prio = append(jobs, jobs[i]), append(prio, prio[i]) // an array record again
				continue
			}
			jobs = append(jobs, &model.Job{ID: uint64(1 + rng.IntN(n)), SubmitTime: t0.Add(time.Duration(rng.IntN(50)) * time.Second)})
			switch rng.IntN(4) {
			case 0:
				prio = append(prio, special[rng.IntN(len(special))])
			case 1:
				prio = append(prio, float64(rng.IntN(5)))
			default:
				prio = append(prio, (rng.Float64()-0.3)*1e4*float64(iter%3+1))
			}
		}
		want := make([]int32, n)
		got := make([]int32, n)
		for i := range want {
			want[i], got[i] = int32(i), int32(i)
		}
		slices.SortStableFunc(want, refQueueCmp(jobs, prio))
		if got = sortQueue(jobs, prio, got); !slices.Equal(got, want) {
			t.Fatalf("iter %d (%d jobs): the radix order differs from the comparison's", iter, n)
		}
	}
}

// TestSortByPrioRefusesNaN: a NaN priority, which no order can place
// consistently, leaves the keys to the comparison sort as before.
func TestSortByPrioRefusesNaN(t *testing.T) {
	keys := make([]qkey, prioRadixMin)
	for i := range keys {
		keys[i] = qkey{prio: float64(len(keys) - i), idx: int32(i)}
	}
	keys[7].prio = math.NaN()
	was := slices.Clone(keys)
	if sortByPrio(keys) || !slices.EqualFunc(keys, was, func(a, b qkey) bool { return a.idx == b.idx }) {
		t.Fatal("a NaN priority was radix-sorted")
	}
}
