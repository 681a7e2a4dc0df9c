package trace

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/scheduler"
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
	// Topology quality over EVERY job of more than one node, the reading
	// Slurm's placement is judged by: leaves (and pods) spanned against the
	// lower bound, the fewest leaves (pods) of the fabric's real sizes
	// whose nodes add up to the job's. A policy that makes jobs wait for a
	// compact placement gains here and pays in wait and slowdown above.
	MultiNode      int     `json:"multi_node_jobs"`
	AtLB           float64 `json:"at_lower_bound"`     // fraction placed at the leaf bound
	MeanExcess     float64 `json:"mean_excess_leaves"` // mean (leaves spanned - bound)
	AtPodLB        float64 `json:"at_pod_lower_bound"` // fraction at the pod bound (1 without pods)
	MeanExcessPods float64 `json:"mean_excess_pods"`
	// BySize breaks the leaf reading down by the job's leaf lower bound:
	// where the misses are.
	BySize []SizeClass `json:"by_size"`
	// Misses breaks the multi-node jobs down by size (2, 3-4, 5-8, ...
	// nodes) with the reason each miss of the leaf bound had.
	Misses  []SizeMisses `json:"misses_by_size"`
	Elapsed float64      `json:"elapsed_s"` // wall-clock time of the simulation
}

// SizeClass is the leaf reading for the jobs whose lower bound is LB
// leaves.
type SizeClass struct {
	LB      int     `json:"lower_bound_leaves"`
	Jobs    int     `json:"jobs"`
	AtLB    float64 `json:"at_lower_bound"`
	Excess  float64 `json:"mean_excess_leaves"`
	MaxSpan int     `json:"max_leaves"`
}

// Bounds computes lower bounds on a fabric: the fewest groups whose sizes
// add up to n, taking the largest first (exact, since any k groups hold at
// most the k largest sizes).
type Bounds struct{ prefix []int }

// NewBounds takes the group sizes (leaf or pod sizes of the fabric).
func NewBounds(sizes []int) Bounds {
	s := slices.Clone(sizes)
	slices.SortFunc(s, func(a, b int) int { return b - a })
	b := Bounds{prefix: make([]int, len(s))}
	sum := 0
	for i, x := range s {
		sum += x
		b.prefix[i] = sum
	}
	return b
}

// Of is the fewest groups that can hold n nodes (len+1 if none can).
func (b Bounds) Of(n int) int {
	i, _ := slices.BinarySearch(b.prefix, n)
	return i + 1
}

// bsld is the bounded slowdown of a job that waited w and ran run seconds.
func bsld(w, run float64) float64 {
	return math.Max(1, (w+run)/math.Max(run, Tau.Seconds()))
}

// Measure computes the metrics of a simulation on tree, a cluster of
// nodes nodes.
func Measure(policy string, jobs []Job, out []Outcome, nodes int, tree *scheduler.Tree, elapsed time.Duration) Metrics {
	m := Metrics{Policy: policy, Jobs: len(jobs), Unstarted: len(jobs) - len(out), Elapsed: elapsed.Seconds()}
	if len(out) == 0 {
		return m
	}
	leafSizes := make([]int, tree.NumLeaves())
	for i := range leafSizes {
		leafSizes[i] = tree.LeafSize(i)
	}
	leafLB, podLB := NewBounds(leafSizes), NewBounds(tree.PodSizes())
	first, last := out[0].Job.Submit, time.Duration(0)
	var used, waitSum, bsldSum float64
	waits := make([]float64, 0, len(out))
	atLB, excess, atPod, excessPods := 0, 0, 0, 0
	classes := map[int]*SizeClass{}
	classAt := map[int]int{}
	for _, o := range out {
		j := o.Job
		first = min(first, j.Submit)
		last = max(last, o.Start+j.Run)
		used += float64(j.Nodes) * j.Run.Seconds()
		w := (o.Start - j.Submit).Seconds()
		waits = append(waits, w)
		waitSum += w
		bsldSum += bsld(w, j.Run.Seconds())
		if j.Nodes < 2 {
			continue
		}
		m.MultiNode++
		lb, plb := leafLB.Of(j.Nodes), podLB.Of(j.Nodes)
		excess += o.Leaves - lb
		excessPods += o.Pods - plb
		if o.Leaves <= lb {
			atLB++
			classAt[lb]++
		}
		if o.Pods <= plb {
			atPod++
		}
		c := classes[lb]
		if c == nil {
			c = &SizeClass{LB: lb}
			classes[lb] = c
		}
		c.Jobs++
		c.Excess += float64(o.Leaves - lb)
		c.MaxSpan = max(c.MaxSpan, o.Leaves)
	}
	n := float64(len(out))
	m.Makespan = (last - first).Seconds()
	if m.Makespan > 0 {
		m.Utilization = used / (float64(nodes) * m.Makespan)
	}
	m.MeanWait = waitSum / n
	slices.Sort(waits)
	m.P95Wait = waits[int(math.Ceil(0.95*n))-1]
	m.MeanBSLD = bsldSum / n
	if m.MultiNode > 0 {
		mn := float64(m.MultiNode)
		m.AtLB, m.MeanExcess = float64(atLB)/mn, float64(excess)/mn
		m.AtPodLB, m.MeanExcessPods = float64(atPod)/mn, float64(excessPods)/mn
	}
	m.Misses = missesBySize(out, leafLB.Of)
	for _, lb := range slices.Sorted(maps.Keys(classes)) {
		c := classes[lb]
		c.AtLB = float64(classAt[lb]) / float64(c.Jobs)
		c.Excess /= float64(c.Jobs)
		m.BySize = append(m.BySize, *c)
	}
	return m
}
