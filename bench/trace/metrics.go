package trace

import (
	"math"
	"slices"
	"time"
)

// Tau is the bounded-slowdown threshold: jobs shorter than this count as
// this long, so a 1-second job that waited a minute does not dominate the
// mean (Feitelson et al.).
const Tau = 10 * time.Second

// Metrics summarises one policy's run over one trace.
type Metrics struct {
	Policy string `json:"policy"`
	Jobs   int    `json:"jobs"`
	// Unstarted jobs never ran (they can never fit); they are left out of
	// every other number.
	Unstarted   int     `json:"unstarted"`
	Utilization float64 `json:"utilization"` // node-seconds used / (nodes × makespan)
	MeanWait    float64 `json:"mean_wait_s"`
	P95Wait     float64 `json:"p95_wait_s"`
	MeanBSLD    float64 `json:"mean_bounded_slowdown"`
	Makespan    float64 `json:"makespan_s"` // first submit to last end
	// Topology quality over jobs of more than one node: leaves spanned
	// against ceil(nodes / leaf size).
	MultiNode  int     `json:"multi_node_jobs"`
	AtLB       float64 `json:"at_lower_bound"`      // fraction placed at the bound
	MeanExcess float64 `json:"mean_excess_leaves"`  // mean (spanned - bound)
	RoomJobs   int     `json:"jobs_with_room"`      // the free nodes allowed the bound
	AtLBRoom   float64 `json:"at_lower_bound_room"` // fraction at the bound among those
	Elapsed    float64 `json:"elapsed_s"`           // wall-clock time of the simulation
}

// Measure computes the metrics of a simulation on a cluster of nodes
// nodes whose largest leaf has leafSize nodes.
func Measure(policy string, jobs []Job, out []Outcome, nodes, leafSize int, elapsed time.Duration) Metrics {
	m := Metrics{Policy: policy, Jobs: len(jobs), Unstarted: len(jobs) - len(out), Elapsed: elapsed.Seconds()}
	if len(out) == 0 {
		return m
	}
	first, last := out[0].Job.Submit, time.Duration(0)
	var used, waitSum, bsld float64
	waits := make([]float64, 0, len(out))
	atLB, atLBRoom, excess := 0, 0, 0
	for _, o := range out {
		j := o.Job
		first = min(first, j.Submit)
		last = max(last, o.Start+j.Run)
		used += float64(j.Nodes) * j.Run.Seconds()
		w := (o.Start - j.Submit).Seconds()
		waits = append(waits, w)
		waitSum += w
		bsld += math.Max(1, (w+j.Run.Seconds())/math.Max(j.Run.Seconds(), Tau.Seconds()))
		if j.Nodes > 1 {
			m.MultiNode++
			lb := (j.Nodes + leafSize - 1) / leafSize
			excess += o.Leaves - lb
			if o.Leaves <= lb {
				atLB++
			}
			if o.Room {
				m.RoomJobs++
				if o.Leaves <= lb {
					atLBRoom++
				}
			}
		}
	}
	n := float64(len(out))
	m.Makespan = (last - first).Seconds()
	if m.Makespan > 0 {
		m.Utilization = used / (float64(nodes) * m.Makespan)
	}
	m.MeanWait = waitSum / n
	slices.Sort(waits)
	m.P95Wait = waits[int(math.Ceil(0.95*n))-1]
	m.MeanBSLD = bsld / n
	if m.MultiNode > 0 {
		m.AtLB = float64(atLB) / float64(m.MultiNode)
		m.MeanExcess = float64(excess) / float64(m.MultiNode)
	}
	if m.RoomJobs > 0 {
		m.AtLBRoom = float64(atLBRoom) / float64(m.RoomJobs)
	}
	return m
}
