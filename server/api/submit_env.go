package api

import (
	"fmt"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// submitEnv checks and copies a batch job's environment and files (#15.4,
// #15.2): the exported variables, working and submit directories, output
// patterns. They are the tenant's input, bound for the replicated log and
// every node of the job, so each has its grammar and byte limit; an
// allocation (no script) takes none of them.
func submitEnv(req *pb.SubmitRequest, job *model.Job) error {
	if req.Interactive && (len(req.Env) > 0 || req.Workdir != "" || req.Output != "" || req.Error != "") {
		return fmt.Errorf("an interactive allocation takes no --export, --chdir, --output or --error: they apply to batch jobs (pass them to `ibex run` or `ibex exec`)")
	}
	if err := model.CheckEnv(req.Env); err != nil {
		return fmt.Errorf("--export: %w", err)
	}
	if err := model.CheckWorkdir(req.Workdir); err != nil {
		return fmt.Errorf("--chdir: %w", err)
	}
	if err := model.CheckWorkdir(req.SubmitDir); err != nil {
		return fmt.Errorf("submit directory: %w", err)
	}
	if req.Output != "" {
		if err := model.CheckOutputPattern("--output", req.Output); err != nil {
			return err
		}
	}
	if req.Error != "" {
		if err := model.CheckOutputPattern("--error", req.Error); err != nil {
			return err
		}
	}
	job.Env, job.Workdir, job.SubmitDir = req.Env, req.Workdir, req.SubmitDir
	job.Output, job.Error, job.NoSlurmEnv = req.Output, req.Error, req.NoSlurmEnv
	return nil
}
