package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// StreamSpec describes a synthetic job stream: Jobs jobs of 1 to MaxNodes
// nodes (uniform), running Run ± 90% (uniform) and declaring a limit of
// 1 to 2 times their runtime rounded up to the minute, arriving as a
// Poisson process whose rate offers Load of a Nodes-node cluster. A share
// SwitchShare of them asks for --switches=LB@SwitchWait, LB the fewest
// leaves of LeafSize their size needs (1@wait for a job that fits a leaf).
// The same spec and Seed give the same stream.
type StreamSpec struct {
	Jobs        int
	MaxNodes    int
	Nodes       int
	LeafSize    int
	Load        float64
	Run         time.Duration
	SwitchShare float64
	SwitchWait  time.Duration
	Seed        uint64
}

// DefaultStream is the stream the placement goals are measured on: 200
// jobs of 1-32 nodes on 4 leaves of 16 at 90% load, 20% with
// --switches=LB@30s.
func DefaultStream(seed uint64) StreamSpec {
	return StreamSpec{Jobs: 200, MaxNodes: 32, Nodes: 64, LeafSize: 16, Load: 0.9, Run: 20 * time.Minute,
		SwitchShare: 0.2, SwitchWait: 30 * time.Second, Seed: seed}
}

// Name says what the stream is, for reports.
func (s StreamSpec) Name() string {
	return fmt.Sprintf("stream(seed %d: %d jobs of 1-%d nodes, %.0f%% load, %.0f%% --switches@%v)",
		s.Seed, s.Jobs, s.MaxNodes, 100*s.Load, 100*s.SwitchShare, s.SwitchWait)
}

// Generate draws the stream.
func (s StreamSpec) Generate() ([]Job, error) {
	if s.Jobs < 1 || s.MaxNodes < 1 || s.Nodes < s.MaxNodes || s.LeafSize < 1 || s.Load <= 0 || s.Run <= 0 {
		return nil, fmt.Errorf("trace: stream needs jobs, nodes >= max job size, a leaf size, load and run time: %+v", s)
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x1b3e))
	jobs := make([]Job, s.Jobs)
	var work float64 // node-seconds
	for i := range jobs {
		n := 1 + rng.IntN(s.MaxNodes)
		run := time.Duration(float64(s.Run) * (0.1 + 1.8*rng.Float64())).Round(time.Second)
		wall := time.Duration(math.Ceil(float64(run)*(1+rng.Float64())/float64(time.Minute))) * time.Minute
		j := Job{ID: uint64(i + 1), Tenant: fmt.Sprintf("t%d", 1+rng.IntN(4)), Nodes: n, Run: run, Walltime: wall}
		if rng.Float64() < s.SwitchShare {
			j.Switches = (n + s.LeafSize - 1) / s.LeafSize
			j.SwitchWait = s.SwitchWait
		}
		jobs[i] = j
		work += float64(n) * run.Seconds()
	}
	mean := work / (s.Load * float64(s.Nodes) * float64(s.Jobs)) // seconds between arrivals
	at := time.Duration(0)
	for i := range jobs {
		jobs[i].Submit = at.Round(time.Second)
		at += time.Duration(rng.ExpFloat64() * mean * float64(time.Second))
	}
	return jobs, nil
}

// RunStream simulates a synthetic stream on Nodes nodes in leaves of
// LeafSize (opt.LeafSize and opt.Nodes are ignored) under every policy.
func RunStream(s StreamSpec, opt Options) (*Report, error) {
	began := time.Now()
	jobs, err := s.Generate()
	if err != nil {
		return nil, err
	}
	opt.Nodes, opt.LeafSize, opt.Fabric = s.Nodes, s.LeafSize, nil
	rep, err := runJobs(jobs, Skipped{}, opt)
	if err != nil {
		return nil, err
	}
	rep.Trace, rep.Records = s.Name(), len(jobs)
	rep.Elapsed = time.Since(began).Seconds()
	return rep, nil
}

// Pool merges reports of the same policies on different streams into one:
// counts add up, means are weighted by the jobs they are over (the leaf
// readings by multi-node jobs), and the misses by size add up row by row.
// Utilization, makespan and the 95th percentile wait are the means of the
// streams' own.
func Pool(reps []*Report) *Report {
	if len(reps) == 0 {
		return &Report{}
	}
	out := *reps[0]
	out.Trace = fmt.Sprintf("%d streams pooled, first %s", len(reps), reps[0].Trace)
	out.Results = nil
	out.Records, out.Jobs, out.Elapsed = 0, 0, 0
	for _, r := range reps {
		out.Records += r.Records
		out.Jobs += r.Jobs
		out.Elapsed += r.Elapsed
	}
	for i := range reps[0].Results {
		var m Metrics
		m.Policy = reps[0].Results[i].Policy
		classes := map[int]*SizeClass{}
		misses := map[int]*SizeMisses{}
		var started float64
		for _, r := range reps {
			x := r.Results[i]
			n := float64(x.Jobs - x.Unstarted)
			mn := float64(x.MultiNode)
			started += n
			m.Jobs += x.Jobs
			m.Unstarted += x.Unstarted
			m.Utilization += x.Utilization
			m.MeanWait += x.MeanWait * n
			m.P95Wait += x.P95Wait
			m.MeanBSLD += x.MeanBSLD * n
			m.Makespan += x.Makespan
			m.MultiNode += x.MultiNode
			m.AtLB += x.AtLB * mn
			m.MeanExcess += x.MeanExcess * mn
			m.AtPodLB += x.AtPodLB * mn
			m.MeanExcessPods += x.MeanExcessPods * mn
			m.Elapsed += x.Elapsed
			for _, c := range x.BySize {
				p := classes[c.LB]
				if p == nil {
					p = &SizeClass{LB: c.LB}
					classes[c.LB] = p
				}
				p.AtLB += c.AtLB * float64(c.Jobs)
				p.Excess += c.Excess * float64(c.Jobs)
				p.Jobs += c.Jobs
				p.MaxSpan = max(p.MaxSpan, c.MaxSpan)
			}
			for _, s := range x.Misses {
				p := misses[s.Lo]
				if p == nil {
					p = &SizeMisses{Lo: s.Lo, Hi: s.Hi}
					misses[s.Lo] = p
				}
				p.Jobs += s.Jobs
				p.AtLB += s.AtLB
				p.Placer += s.Placer
				p.AtOnce += s.AtOnce
				p.Queued += s.Queued
				p.Held += s.Held
				p.Wait += s.Wait * float64(s.Jobs)
				p.BSLD += s.BSLD * float64(s.Jobs)
			}
		}
		k := float64(len(reps))
		m.Utilization /= k
		m.Makespan /= k
		m.P95Wait /= k
		if started > 0 {
			m.MeanWait /= started
			m.MeanBSLD /= started
		}
		if m.MultiNode > 0 {
			mn := float64(m.MultiNode)
			m.AtLB /= mn
			m.MeanExcess /= mn
			m.AtPodLB /= mn
			m.MeanExcessPods /= mn
		}
		for lb := 1; len(classes) > 0; lb++ {
			if c, ok := classes[lb]; ok {
				c.AtLB /= float64(c.Jobs)
				c.Excess /= float64(c.Jobs)
				m.BySize = append(m.BySize, *c)
				delete(classes, lb)
			}
		}
		for lo := 2; len(misses) > 0; lo++ {
			if s, ok := misses[lo]; ok {
				s.Wait /= float64(s.Jobs)
				s.BSLD /= float64(s.Jobs)
				m.Misses = append(m.Misses, *s)
				delete(misses, lo)
			}
		}
		out.Results = append(out.Results, m)
	}
	return &out
}
