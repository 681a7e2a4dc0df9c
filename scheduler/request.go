package scheduler

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// JobOptions are the placement wishes a job can carry beyond its node
// count. model.Job does not have them (yet), so Snapshot carries them by
// job ID.
type JobOptions struct {
	// Features every node must have (labels such as "gpu" or "bigmem").
	Features []string
	// Switches > 0 asks for at most that many leaf switches (leaf groups;
	// for rail-optimised nodes, leaves per rail), like Slurm's
	// --switches=N@wait: the job waits up to SwitchWait (0: the policy's
	// default) for such a placement, then takes what there is.
	Switches   int
	SwitchWait time.Duration
	// SwitchLevel is the level Switches counts: 0 or 1 leaf switches (leaf
	// groups), 2 the switches right above them (pods on a three-level
	// fabric: --switches pod:1), and so on up (Tree.Levels is the root).
	SwitchLevel int
	// Reservation names an advance reservation of the job's tenant; the
	// job then runs only inside it.
	Reservation string
	// Image is the OS image the job's nodes must run ("" : any). Nodes
	// that already carry it are preferred where the choice costs nothing
	// in topology (image.go): they skip a rewrite.
	Image string
	// Isolation "links" (IsolationLinks) makes a multi-node job hold the
	// uplinks its traffic between leaves uses, exclusively (links.go).
	Isolation string
}

// Request is a pending job as Schedule sees it.
type Request struct {
	JobID  uint64
	Tenant string
	Nodes  int
	// Walltime is the limit the job declared; backfill trusts it because
	// ibex kills jobs that reach it. 0 means no limit.
	Walltime time.Duration
	Submit   time.Time
	JobOptions
}

// forever stands for "no limit" in walltime arithmetic without overflowing
// time.Time.
const forever = 100 * 365 * 24 * time.Hour

func (r *Request) walltime() time.Duration {
	if r.Walltime <= 0 {
		return forever
	}
	return r.Walltime
}

func requestFor(j *model.Job, opt map[uint64]JobOptions) Request {
	r := Request{JobID: j.ID, Tenant: j.Tenant, Nodes: j.NumNodes, Walltime: j.TimeLimit, Submit: j.SubmitTime, JobOptions: opt[j.ID]}
	if r.Isolation == "" {
		r.Isolation = j.Isolation
	}
	return r
}
