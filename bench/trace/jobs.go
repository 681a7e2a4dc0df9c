package trace

import (
	"fmt"
	"slices"
	"time"
)

// Job is an SWF record turned into what ibex would be asked for.
type Job struct {
	ID       uint64
	Tenant   string
	Submit   time.Duration // from the trace start
	Run      time.Duration // how long it actually runs (field 4)
	Walltime time.Duration // what it declared (field 9, else field 4)
	Nodes    int
	// Switches > 0 asks for at most that many leaves, waiting up to
	// SwitchWait (--switches=N@wait); SWF has no such field, synthetic
	// streams set it.
	Switches   int
	SwitchWait time.Duration
}

// Mapping turns processors into nodes. ibex hands out whole nodes, so a job
// asking for P processors gets ceil(P / ProcsPerNode) nodes; with the
// default ProcsPerNode of 1 one processor is one node, which is exact for
// KTH-SP2 (100 single-processor SP2 nodes) and for the Lublin model (which
// generates node counts).
type Mapping struct {
	ProcsPerNode int
	// MaxNodes drops jobs larger than the cluster (0: keep all).
	MaxNodes int
}

// Skipped counts records that could not become jobs, by reason.
type Skipped struct {
	NoSize     int `json:"no_size"`     // fields 5 and 8 both missing or zero
	NoRunTime  int `json:"no_run_time"` // field 4 missing (-1)
	NoSubmit   int `json:"no_submit"`   // field 2 missing
	TooLarge   int `json:"too_large"`   // more nodes than the cluster has
	OverLimits int `json:"over_limit"`  // ran longer than requested: walltime raised to run time
}

// Total is the number of records dropped (OverLimits are kept).
func (s Skipped) Total() int { return s.NoSize + s.NoRunTime + s.NoSubmit + s.TooLarge }

// Jobs converts records to jobs, sorted by submit time then job number.
//
// Size is field 5 (allocated processors), or field 8 (requested) when 5 is
// missing. Runtime is field 4. The declared walltime is field 9, or field 4
// when 9 is missing. A job that ran longer than it asked for (a few
// percent of KTH-SP2: its EASY scheduler had a grace period) gets its
// walltime raised to its runtime, because ibex kills jobs at their limit
// and the scheduler may rely on that; such jobs are counted in OverLimits.
// Tenants are users (field 12); a missing user is "unknown".
func Jobs(recs []Record, m Mapping) ([]Job, Skipped) {
	ppn := int64(max(1, m.ProcsPerNode))
	var out []Job
	var sk Skipped
	for _, r := range recs {
		procs := r.Procs
		if procs <= 0 {
			procs = r.ReqProcs
		}
		switch {
		case procs <= 0:
			sk.NoSize++
			continue
		case r.Run < 0:
			sk.NoRunTime++
			continue
		case r.Submit < 0:
			sk.NoSubmit++
			continue
		}
		nodes := int((procs + ppn - 1) / ppn)
		if m.MaxNodes > 0 && nodes > m.MaxNodes {
			sk.TooLarge++
			continue
		}
		wall := r.ReqTime
		if wall <= 0 {
			wall = r.Run
		}
		if r.Run > wall {
			sk.OverLimits++
			wall = r.Run
		}
		tenant := "unknown"
		if r.User >= 0 {
			tenant = fmt.Sprintf("u%d", r.User)
		}
		out = append(out, Job{
			ID: uint64(r.Job), Tenant: tenant, Nodes: nodes,
			Submit: time.Duration(r.Submit) * time.Second, Run: time.Duration(r.Run) * time.Second,
			Walltime: time.Duration(wall) * time.Second,
		})
	}
	slices.SortStableFunc(out, func(a, b Job) int {
		if a.Submit != b.Submit {
			return int((a.Submit - b.Submit) / time.Second)
		}
		return int(a.ID) - int(b.ID)
	})
	return out, sk
}

// ClusterNodes is the machine size a trace ran on: the header's MaxNodes,
// else MaxProcs, divided by processors per node; else the largest job.
func ClusterNodes(t *Trace, m Mapping) int {
	ppn := int64(max(1, m.ProcsPerNode))
	for _, k := range []string{"MaxNodes", "MaxProcs"} {
		if v := t.HeaderInt(k); v > 0 {
			if k == "MaxNodes" && ppn > 1 && t.HeaderInt("MaxProcs") > 0 {
				continue // nodes of the original machine are not ours
			}
			return int((v + ppn - 1) / ppn)
		}
	}
	n := 0
	for _, r := range t.Records {
		n = max(n, int((max(r.Procs, r.ReqProcs)+ppn-1)/ppn))
	}
	return n
}
