package api

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestSubmitSwitchLevel: --switches LEVEL:N is checked against the fabric
// before anything is written: a level the fabric does not have and a
// level without a count are refused (more nodes than N pods hold is
// scheduler.Tree.MaxUnder's, tested there); pod:1 on a leaf/spine fabric (one pod: the whole fabric) is
// accepted and stored with its level.
func TestSubmitSwitchLevel(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	base := func() *pb.SubmitRequest {
		return &pb.SubmitRequest{NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}}
	}
	for name, c := range map[string]struct {
		mod  func(*pb.SubmitRequest)
		want string
	}{
		"level above the root":  {func(r *pb.SubmitRequest) { r.Switches, r.SwitchLevel = 1, 3 }, "2 switch levels"},
		"level without a count": {func(r *pb.SubmitRequest) { r.SwitchLevel = 2 }, "switch level"},
		"absurd level":          {func(r *pb.SubmitRequest) { r.Switches, r.SwitchLevel = 1, 1000 }, "switch level"},
	} {
		req := base()
		c.mod(req)
		_, err := h.jobs.Submit(h.ctx(), req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want InvalidArgument mentioning %q", name, err, c.want)
		}
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused submissions wrote %d commands: %+v", len(cmds), cmds)
	}
	req := base()
	req.NumNodes, req.Switches, req.SwitchLevel = 8, 1, 2
	resp, err := h.jobs.Submit(h.ctx(), req)
	if err != nil {
		t.Fatalf("pod:1 for the whole leaf/spine fabric refused: %v", err)
	}
	var j *model.Job
	for _, p := range h.store.Work(10).Pending {
		if p.ID == resp.JobId {
			j = p
		}
	}
	if j == nil || j.SwitchLevel != 2 || j.Switches != 1 {
		t.Fatalf("stored job %+v", j)
	}
}
