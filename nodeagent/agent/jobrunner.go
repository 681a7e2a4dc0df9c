package agent

import (
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// jobEnvOf is the batch job's environment and files as the task carries
// them; the runner checks them before it starts anything.
func jobEnvOf(jt *pb.JobTask) localexec.JobEnv {
	return localexec.JobEnv{Tenant: jt.GetTenant(), Name: jt.GetName(), UserEnv: jt.GetUserEnv(), Workdir: jt.GetWorkdir(),
		SubmitDir: jt.GetSubmitDir(), Output: jt.GetOutput(), Error: jt.GetError(), SlurmEnv: jt.GetSlurmEnv(), Extra: jt.GetEnv()}
}

// jobRunner is what the agent needs of the runner that starts and watches
// job processes on this node (a localexec.Runner). Tests use the real one.
type jobRunner interface {
	Start(t localexec.Task) error
	// Allocate prepares an allocation's share on this node: its directory
	// and cgroup, no process.
	Allocate(jobID uint64, node string) error
	Status(jobID uint64, node string) (localexec.Status, error)
	Kill(jobID uint64, node string) error
	Clean(jobID uint64, node string) (evidence string, err error)
	// ReadOutput returns at most max bytes of the job's output from
	// offset (≥ 0), and the output's size so far.
	ReadOutput(jobID uint64, node string, offset int64, max int) (data []byte, size int64, err error)
	// ReadStream is ReadOutput of one stream: "stdout" (or "") or
	// "stderr", from the job's -o/-e files where it has them.
	ReadStream(jobID uint64, node, stream string, offset int64, max int) (data []byte, size int64, err error)
}

// localRunner adapts a localexec.Runner.
type localRunner struct {
	*localexec.Runner
}
