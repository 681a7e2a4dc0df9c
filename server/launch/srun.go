package launch

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// SrunRunner is a Runner that can also run an exec srun-like (#15.5):
// probe which MPI a program links, or run it as plain tasks. The node
// does both (nodeagent/nodeexec/tasks.go); this server never opens the
// tenant's program.
type SrunRunner interface {
	ExecSrun(ctx context.Context, node string, task *pb.ExecTask, srun *pb.SrunSpec) (<-chan *pb.ExecEvent, error)
}

// srunSpec checks the srun fields of req; nil when it uses none.
func srunSpec(req *pb.ExecRequest) (*pb.SrunSpec, error) {
	switch {
	case !req.Tasks && !req.Probe && !req.Label:
		return nil, nil
	case req.Tasks && req.Probe:
		return nil, status.Error(codes.InvalidArgument, "probe and tasks exclude each other")
	case (req.Tasks || req.Probe) && req.Mpi != "":
		return nil, status.Error(codes.InvalidArgument, "plain tasks and a probe are not MPI launches: leave mpi empty")
	case req.Label && !req.Tasks:
		return nil, status.Error(codes.InvalidArgument, "label applies to plain tasks only")
	case req.Node == "":
		return nil, status.Error(codes.InvalidArgument, "plain tasks and a probe run on one named node")
	}
	return &pb.SrunSpec{Tasks: req.Tasks, Label: req.Label, Probe: req.Probe}, nil
}

// srunRunner hands every exec its srun spec.
type srunRunner struct {
	sr   SrunRunner
	spec *pb.SrunSpec
}

func (s srunRunner) Exec(ctx context.Context, node string, task *pb.ExecTask) (<-chan *pb.ExecEvent, error) {
	return s.sr.ExecSrun(ctx, node, task, s.spec)
}
