package api

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// Link isolation at submission (scheduler/links.go). A job asks for it
// with SubmitRequest.isolation; the cluster policy (Config.Isolation,
// `ibexd --isolation links`) applies it to every multi-node job. A job on
// one node has no traffic between leaves: isolation means nothing to it
// and is dropped, so its record says what the scheduler does.

// isolationFor sets the job's isolation from its request and the cluster
// policy.
func (a *API) isolationFor(job *model.Job) {
	if job.Isolation == "" {
		job.Isolation = a.cfg.Isolation
	}
	if job.NumNodes <= 1 {
		job.Isolation = ""
	}
}

// isolationUnenforceable refuses an isolated job when the subnet manager
// can never load the forwarding tables that enforce it (Config.NoIsolation):
// its cables would be held and nothing would keep other traffic off them.
func (a *API) isolationUnenforceable(job *model.Job) error {
	if job.Isolation == "" || a.cfg.NoIsolation == "" {
		return nil
	}
	return status.Error(codes.FailedPrecondition, a.cfg.NoIsolation)
}

// isolationNeverRuns refuses an isolated job bigger than any placement the
// fabric's uplinks allow (Tree.MaxIsolated): it would pend forever.
func (a *API) isolationNeverRuns(job *model.Job, tree *scheduler.Tree) error {
	if job.Isolation == "" || tree == nil {
		return nil
	}
	if err := tree.IsolationError(job.NumNodes); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}
