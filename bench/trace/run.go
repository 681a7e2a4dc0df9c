package trace

import (
	"fmt"
	"os"
	"time"

	"github.com/ibex-hpc/ibex/scheduler"
)

// Options shape a benchmark run.
type Options struct {
	Mapping
	// Nodes is the cluster size; 0 takes it from the trace (ClusterNodes).
	Nodes int
	// LeafSize is nodes per leaf switch; LeavesPerPod > 0 adds a pod level.
	LeafSize, LeavesPerPod int
	Policies               []scheduler.Policy
	SwitchWait             time.Duration
	// Fabric replays on a real topology instead of a synthetic tree
	// (ibex-trace --fabric); Nodes, LeafSize and LeavesPerPod must then be
	// zero: the fabric has its own.
	Fabric *Fabric
	// Isolation "links" runs every policy twice, as is and with every
	// multi-node job link-isolated (reported as POLICY+links).
	Isolation string
}

// Report is one trace's results.
type Report struct {
	Trace      string    `json:"trace"`
	Fabric     string    `json:"fabric,omitempty"` // the dump replayed on, if not a synthetic tree
	Infra      int       `json:"infra_hosts,omitempty"`
	Records    int       `json:"records"`
	BadRecords int       `json:"bad_records"`
	Skipped    Skipped   `json:"skipped"`
	Jobs       int       `json:"jobs"`
	Nodes      int       `json:"nodes"`
	LeafSize   int       `json:"leaf_size"`
	Leaves     int       `json:"leaves"`
	Levels     int       `json:"levels"`
	Results    []Metrics `json:"results"`
	// MaxIsolated is the largest job the fabric can run link-isolated
	// (with Options.Isolation); bigger ones never start isolated.
	MaxIsolated int `json:"max_isolated,omitempty"`
	// TooBigToIsolate counts the jobs bigger than that: they run without
	// isolation in the POLICY+links replays.
	TooBigToIsolate int     `json:"too_big_to_isolate,omitempty"`
	Elapsed         float64 `json:"elapsed_s"` // parsing plus every policy
}

// RunFile parses a trace file and simulates it under every policy.
func RunFile(path string, opt Options) (*Report, error) {
	began := time.Now()
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	tr, err := Parse(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rep, err := Run(tr, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rep.Trace = path
	rep.Elapsed = time.Since(began).Seconds()
	return rep, nil
}

// Run simulates a parsed trace under every policy.
func Run(tr *Trace, opt Options) (*Report, error) {
	nodes := opt.Nodes
	if opt.Fabric != nil {
		nodes = opt.Fabric.Tree.NumHosts()
	} else if nodes <= 0 {
		nodes = ClusterNodes(tr, opt.Mapping)
	}
	m := opt.Mapping
	m.MaxNodes = nodes
	jobs, sk := Jobs(tr.Records, m)
	opt.Nodes = nodes
	rep, err := runJobs(jobs, sk, opt)
	if err != nil {
		return nil, err
	}
	rep.Records, rep.BadRecords = len(tr.Records), tr.Bad
	return rep, nil
}

// runJobs simulates jobs on opt.Nodes nodes under every policy.
func runJobs(jobs []Job, sk Skipped, opt Options) (*Report, error) {
	tree, err := replayTree(&opt)
	if err != nil {
		return nil, err
	}
	nodes := tree.NumHosts()
	rep := &Report{Skipped: sk, Jobs: len(jobs), Nodes: nodes,
		LeafSize: opt.LeafSize, Leaves: tree.NumLeaves(), Levels: tree.Levels()}
	if opt.Fabric != nil {
		rep.Fabric, rep.Infra = opt.Fabric.Path, opt.Fabric.Infra
	}
	modes := []string{""}
	if opt.Isolation != "" {
		modes = append(modes, opt.Isolation)
		rep.MaxIsolated = tree.MaxIsolated()
		for _, j := range jobs {
			if j.Nodes > rep.MaxIsolated {
				rep.TooBigToIsolate++
			}
		}
	}
	for _, p := range opt.Policies {
		for _, iso := range modes {
			t0 := time.Now()
			out := Simulate(jobs, Config{Tree: tree, Policy: p, SwitchWait: opt.SwitchWait, Isolation: iso})
			name := p.Name
			if iso != "" {
				name += "+" + iso
			}
			rep.Results = append(rep.Results, Measure(name, jobs, out, nodes, tree, time.Since(t0)))
		}
	}
	return rep, nil
}

// replayTree is the tree a run places on: the real fabric's, or a
// synthetic one of opt.Nodes hosts. It sets opt.LeafSize to the tree's
// largest leaf for the report.
func replayTree(opt *Options) (*scheduler.Tree, error) {
	if f := opt.Fabric; f != nil {
		if opt.LeafSize > 0 || opt.LeavesPerPod > 0 {
			return nil, fmt.Errorf("a fabric has its own leaves and pods: --leaf-size and --pod-leaves do not apply with --fabric")
		}
		opt.LeafSize = f.Tree.MaxLeafSize()
		return f.Tree, nil
	}
	if opt.LeafSize <= 0 {
		opt.LeafSize = 16
	}
	return scheduler.SyntheticTree(opt.Nodes, opt.LeafSize, opt.LeavesPerPod)
}
