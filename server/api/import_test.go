package api

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// gpuDump: 8 leaves with 16 GPU hosts of 8 rails (gpu0001-0016) and one
// single-HCA host per leaf (node1-node8).
func gpuDump(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := ibnet.GenerateFatTree(&buf, ibnet.FatTreeConfig{Pods: 1, LeavesPerPod: 8, SpinesPerPod: 2, HostsPerLeaf: 1, RailHostsPerPod: 16, Rails: 8}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func changesOf(s *pb.TopologySummary) map[string][]string {
	out := map[string][]string{}
	for _, c := range s.NodeChanges {
		out[c.Change] = c.Nodes
	}
	return out
}

// TestImportDryRunThenImport: a dry run classifies the hosts (the 16
// 8-rail GPU hosts are compute, the single-HCA ones and --infra's gpu0016
// infrastructure), says what happens to the simulated cluster's nodes
// (node001-004 of the configured fat tree go, drained: node1-8 and the GPU
// hosts come) and writes nothing; the import then does exactly that, and a
// job of more nodes than the compute hosts is refused.
func TestImportDryRunThenImport(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 4})
	topo := pb.NewTopologyClient(h.conn)
	req := &pb.ImportTopologyRequest{Text: gpuDump(t), Infra: "gpu0016", DryRun: true}
	sum, err := topo.Import(h.adminCtx(), req)
	if err != nil {
		t.Fatal(err)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("dry run wrote %d commands", len(cmds))
	}
	if !sum.DryRun || sum.ComputeHosts != 15 || sum.ComputeLayout != 8 || len(sum.Infrastructure) != 9 {
		t.Fatalf("dry run: dry %v, %d compute (layout %d), %d infra", sum.DryRun, sum.ComputeHosts, sum.ComputeLayout, len(sum.Infrastructure))
	}
	why := map[string]string{}
	for _, c := range sum.Infrastructure {
		why[c.Name] = c.Why
	}
	if !strings.Contains(why["node3"], "1 HCA port") || !strings.Contains(why["gpu0016"], "--infra") {
		t.Fatalf("reasons %v", why)
	}
	ch := changesOf(sum)
	if !slices.Equal(ch["drained"], []string{"node001", "node002", "node003", "node004"}) || len(ch["added"]) != 24 || len(ch["infrastructure"]) != 9 {
		t.Fatalf("changes %v", ch)
	}
	req.DryRun = false
	if _, err := topo.Import(h.adminCtx(), req); err != nil {
		t.Fatal(err)
	}
	var size int
	var drained string
	h.store.Read(func(st *fsm.State) {
		size = st.ClusterSize()
		drained = st.Nodes["node001"].DrainNote
	})
	if size != 15 || !strings.Contains(drained, "not in the fabric") {
		t.Fatalf("after import: cluster size %d, node001 %q", size, drained)
	}
	_, err = h.jobs.Submit(h.ctx(), &pb.SubmitRequest{NumNodes: 16, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cluster has 15") {
		t.Fatalf("16 nodes on 15 compute hosts: %v", err)
	}
	shown, err := topo.Show(h.adminCtx(), &pb.ShowTopologyRequest{})
	if err != nil || len(shown.Infrastructure) != 9 || shown.ComputeHosts != 15 {
		t.Fatalf("show: %v, %+v", err, shown)
	}
}

// TestImportRefusesBadClassifyInput: a bad --infra pattern or map role is
// refused before anything is written; so is a dump whose hosts are all
// infrastructure.
func TestImportRefusesBadClassifyInput(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	topo := pb.NewTopologyClient(h.conn)
	for name, req := range map[string]*pb.ImportTopologyRequest{
		"bad pattern": {Text: gpuDump(t), Infra: "("},
		"bad role":    {Text: gpuDump(t), NameMap: "0x1 node1 storage\n"},
		"all infra":   {Text: gpuDump(t), Infra: ".*"},
	} {
		if _, err := topo.Import(h.adminCtx(), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v", name, err)
		}
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused imports wrote %d commands", len(cmds))
	}
}
