package control

import "github.com/ibex-hpc/ibex/model"

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
