package control

import (
	"context"

	"github.com/ibex-hpc/ibex/model"
)

// TaskEnv is what a batch job's nodes need of its environment and files
// (#15.2, #15.4): the job's name for %x and SLURM_JOB_NAME, the exported
// variables, the working and submit directories, the -o/-e patterns and
// whether the SLURM_* variables are set. The node expands and applies
// them (nodeagent/localexec): only it has the job user and the files.
type TaskEnv struct {
	Name          string
	Env           []string
	Workdir       string
	SubmitDir     string
	Output, Error string
	SlurmEnv      bool
}

// taskEnv is j's TaskEnv.
func taskEnv(j *model.Job) TaskEnv {
	return TaskEnv{Name: j.Name, Env: j.Env, Workdir: j.Workdir, SubmitDir: j.SubmitDir,
		Output: j.Output, Error: j.Error, SlurmEnv: !j.NoSlurmEnv}
}

// StreamReader is an Executor that keeps a job's stdout and stderr apart
// (#15.2): ReadStream is ReadOutput of one stream, "stdout" or "stderr"
// ("" is stdout), from the job's -o/-e files where it has them.
type StreamReader interface {
	ReadStream(ctx context.Context, jobID uint64, node, stream string, offset int64, max int) (data []byte, eof bool, err error)
}
