package scheduler

import (
	"math"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Usage is each tenant's past consumption in node-seconds, decayed with a
// half-life so that last month counts less than yesterday, as of At. The
// controller can rebuild it each pass from the finished jobs it keeps
// (UsageFromJobs); the trace simulator adds jobs as they end, which is
// O(tenants) per job instead of O(jobs) per pass.
type Usage struct {
	At          time.Time
	HalfLife    time.Duration // 0: no decay
	NodeSeconds map[string]float64
}

// NewUsage returns empty usage decaying with halfLife.
func NewUsage(halfLife time.Duration) *Usage {
	return &Usage{HalfLife: halfLife, NodeSeconds: map[string]float64{}}
}

// Add accounts nodes·[start, end), each second decayed by its own age at
// u.At (after moving u.At forward to end if needed). Exact integration
// rather than charging the whole job at its end means a week-long job does
// not hit its tenant's priority in one step.
func (u *Usage) Add(tenant string, nodes int, start, end time.Time) {
	if !end.After(start) || nodes <= 0 {
		return
	}
	if u.NodeSeconds == nil {
		u.NodeSeconds = map[string]float64{}
	}
	if u.At.IsZero() {
		u.At = end
	}
	if end.After(u.At) {
		f := decay(end.Sub(u.At), u.HalfLife)
		for k, v := range u.NodeSeconds {
			u.NodeSeconds[k] = v * f
		}
		u.At = end
	}
	u.NodeSeconds[tenant] += float64(nodes) * decayedSeconds(start, end, u.At, u.HalfLife)
}

// UsageFromJobs sums the finished jobs' usage as of now. Running jobs are
// left out: Schedule adds them from Snapshot.Running.
func UsageFromJobs(jobs []*model.Job, now time.Time, halfLife time.Duration) *Usage {
	u := &Usage{At: now, HalfLife: halfLife, NodeSeconds: map[string]float64{}}
	for _, j := range jobs {
		if j.State.Terminal() && !j.StartTime.IsZero() && j.EndTime.After(j.StartTime) {
			u.NodeSeconds[j.Tenant] += float64(len(j.Nodes)) * decayedSeconds(j.StartTime, j.EndTime, now, halfLife)
		}
	}
	return u
}

// decay is the weight of something age old: 2^(-age/halfLife).
func decay(age, halfLife time.Duration) float64 {
	if halfLife <= 0 {
		return 1
	}
	return math.Exp2(-age.Seconds() / halfLife.Seconds())
}

// decayedSeconds is ∫ over [start, end) of 2^(-(at-t)/H) dt in seconds:
// (H/ln 2)·(2^(-(at-end)/H) - 2^(-(at-start)/H)).
func decayedSeconds(start, end, at time.Time, halfLife time.Duration) float64 {
	if halfLife <= 0 {
		return end.Sub(start).Seconds()
	}
	h := halfLife.Seconds()
	return h / math.Ln2 * (decay(at.Sub(end), halfLife) - decay(at.Sub(start), halfLife))
}

// fairshare is F = 2^(-(U_t/ΣU)/(S_t/ΣS)), where the sums run over every
// tenant with past usage or running or pending jobs. A tenant that used
// exactly its share gets 0.5, one that used nothing 1, one that used
// everything while entitled to half ~0.25. Only tenants with pending jobs
// get a factor: the others only count in the sums, so a pass costs one
// walk over the usage map and no writes to it.
func fairshare(s *Snapshot, p Policy, now time.Time) map[string]float64 {
	var past map[string]float64
	f := 1.0
	if s.Usage != nil {
		past = s.Usage.NodeSeconds
		f = decay(now.Sub(s.Usage.At), p.HalfLife)
	}
	var sumU, sumS float64
	for t, v := range past {
		sumU += v * f
		sumS += share(p, t)
	}
	running := map[string]float64{}
	for _, j := range s.Running {
		start := j.StartTime
		if start.IsZero() || start.After(now) {
			continue
		}
		u := float64(len(j.Nodes)) * decayedSeconds(start, now, now, p.HalfLife)
		if _, ok := running[j.Tenant]; !ok {
			if _, ok := past[j.Tenant]; !ok {
				sumS += share(p, j.Tenant)
			}
		}
		running[j.Tenant] += u
		sumU += u
	}
	out := map[string]float64{}
	for _, j := range s.Pending {
		if _, ok := out[j.Tenant]; ok {
			continue
		}
		_, inPast := past[j.Tenant]
		_, inRun := running[j.Tenant]
		if !inPast && !inRun {
			sumS += share(p, j.Tenant)
		}
		out[j.Tenant] = past[j.Tenant]*f + running[j.Tenant] // usage for now
	}
	for t, u := range out {
		if sumU <= 0 {
			out[t] = 1
			continue
		}
		out[t] = math.Exp2(-(u / sumU) / (share(p, t) / sumS))
	}
	return out
}

func share(p Policy, tenant string) float64 {
	if s, ok := p.Shares[tenant]; ok && s > 0 {
		return s
	}
	return 1
}

// queue returns the indexes of s.Pending in the policy's order: FCFS by
// submission (then job ID), or by priority, highest first, ties in FCFS
// order. Pure: the same snapshot and now give the same order. It sorts
// small indexes rather than jobs, and not at all when the queue already is
// in order (a FCFS queue handed over in submission order), because the
// trace simulator runs tens of thousands of passes over long queues.
func queue(s *Snapshot, p Policy, now time.Time) []int32 {
	idx := make([]int32, len(s.Pending))
	for i := range idx {
		idx[i] = int32(i)
	}
	var prio []float64
	if p.Order == OrderPriority {
		fs := fairshare(s, p, now)
		prio = make([]float64, len(s.Pending))
		for i, j := range s.Pending {
			age := 1.0
			if p.AgeMax > 0 {
				age = min(1, max(0, now.Sub(j.SubmitTime).Seconds()/p.AgeMax.Seconds()))
			}
			prio[i] = p.AgeWeight*age + p.FairshareWeight*fs[j.Tenant]
			if p.SlowdownWeight != 0 {
				prio[i] += p.SlowdownWeight * expectedSlowdown(j, now, p.SlowdownMax) // slowdown.go
			}
		}
	}
	return sortQueue(s.Pending, prio, idx) // queuesort.go
}
