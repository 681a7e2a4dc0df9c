package launch

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func TestSrunSpecChecks(t *testing.T) {
	ok := []*pb.ExecRequest{{}, {Node: "n1", Tasks: true}, {Node: "n1", Tasks: true, Label: true}, {Node: "n1", Probe: true}}
	for _, r := range ok {
		if _, err := srunSpec(r); err != nil {
			t.Errorf("%v: %v", r, err)
		}
	}
	bad := []*pb.ExecRequest{{Node: "n1", Tasks: true, Probe: true}, {Node: "n1", Tasks: true, Mpi: "auto"},
		{Node: "n1", Label: true}, {Tasks: true}, {Probe: true, Node: "n1", Mpi: "openmpi"}}
	for _, r := range bad {
		if _, err := srunSpec(r); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", r, err)
		}
	}
}
