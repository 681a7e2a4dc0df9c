package scheduler

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Expected-slowdown priority (Policy.SlowdownWeight), the "XFactor" of
// the backfill literature: a job's priority grows with the slowdown it
// would have if it started now, (wait + time limit) / time limit, so an
// hour's wait lifts a 10-minute job seven times as much as a one-hour job.
// Bounded slowdown is the mean of exactly that ratio over the finished
// jobs (with real run times), so ordering by it spends the waits where
// they cost the least slowdown; unlike shortest-job-first nothing starves,
// since every waiting job's factor keeps growing.

// minSlowdownLimit is the floor on the time limit, bounded slowdown's
// 10 seconds, so a job declaring a second does not jump the whole queue.
const minSlowdownLimit = 10 * time.Second

// expectedSlowdown is (wait + limit) / limit at now, at most cap if cap > 0; 1 for a job without a
// time limit (its slowdown cannot be estimated, and it cannot be
// backfilled anyway).
func expectedSlowdown(j *model.Job, now time.Time, cap float64) float64 {
	if j.TimeLimit <= 0 {
		return 1
	}
	limit := max(j.TimeLimit, minSlowdownLimit)
	wait := max(0, now.Sub(j.SubmitTime))
	x := float64(wait+limit) / float64(limit)
	if cap > 0 {
		x = min(x, cap)
	}
	return x
}
