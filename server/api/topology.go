package api

import (
	"bytes"
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler/topotree"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

// maxTopologyBytes bounds an imported dump (a 10,000-switch fabric is a few
// tens of MB; the raft log is not the place for more).
const maxTopologyBytes = 64 << 20

type topologyService struct {
	pb.UnimplementedTopologyServer
	a *API
}

func (t *topologyService) Import(ctx context.Context, req *pb.ImportTopologyRequest) (*pb.TopologySummary, error) {
	if err := auth.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return t.importTopology(ctx, req)
}

// importTopology validates a dump, and unless it is a dry run commits it;
// Import and ImportStream (importstream.go) share it.
func (t *topologyService) importTopology(ctx context.Context, req *pb.ImportTopologyRequest) (*pb.TopologySummary, error) {
	if len(req.Text) > maxTopologyBytes {
		return nil, status.Errorf(codes.InvalidArgument, "topology larger than %d MiB", maxTopologyBytes>>20)
	}
	if len(req.NameMap) > maxNameMapBytes {
		return nil, status.Errorf(codes.InvalidArgument, "name map larger than %d MiB", maxNameMapBytes>>20)
	}
	fab, err := fabricview.ParseTopology(req.Text, req.NameMap)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := topotree.FromFabric(fab, nil); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cls, err := classifyHosts(fab, req.NameMap, req.Infra)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cmd := &fsm.ImportTopology{Text: req.Text, NameMap: req.NameMap, Places: fabricview.HostPlaces(fab), Time: t.a.cfg.Store.Now(),
		Replace: !t.a.cfg.RealNodes}
	for _, h := range cls.Infra() {
		cmd.Infra = append(cmd.Infra, fsm.InfraHost{Name: h.Name, Why: h.Why})
	}
	onLeaf := 0
	for _, h := range cmd.Places {
		if h.Leaf == "" {
			continue // a host on no leaf cannot be placed
		}
		onLeaf++
		if !t.a.cfg.RealNodes { // simulated clusters' nodes are the dump's hosts
			cmd.Hosts = append(cmd.Hosts, fsm.NodeSpec{Name: h.Name, Leaf: h.Leaf})
		}
	}
	sum := summarize(fab, "imported")
	sum.ComputeHosts, sum.ComputeLayout = uint32(cls.Compute()), uint32(cls.Layout)
	for _, h := range cls.Infra() {
		sum.Infrastructure = append(sum.Infrastructure, &pb.ClassifiedHost{Name: h.Name, Why: h.Why})
	}
	sum.Warnings = append(sum.Warnings, fab.Check()...)
	sum.Warnings = append(sum.Warnings, cls.Warnings...)
	if !t.a.cfg.RealNodes {
		var changes map[string][]string
		t.a.cfg.Store.Read(func(st *fsm.State) { changes = st.ImportChanges(cmd.Hosts, cmd.Infra) })
		for _, k := range []string{"added", "drained", "draining", "returned", "infrastructure", "compute"} {
			if len(changes[k]) > 0 {
				sum.NodeChanges = append(sum.NodeChanges, &pb.NodeChange{Change: k, Nodes: changes[k]})
			}
		}
	}
	if req.DryRun {
		sum.Source, sum.DryRun = "dry run", true
		return sum, nil
	}
	if onLeaf == 0 {
		return nil, status.Error(codes.InvalidArgument, "the dump has no hosts on leaf switches")
	}
	if cls.Compute() == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "no compute hosts: all %d are infrastructure (see --dry-run; --infra and the name map's roles decide)", len(cls.Hosts))
	}
	if _, err := t.a.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	return sum, nil
}

// maxNameMapBytes bounds a name map (one line per HCA of a large fabric).
const maxNameMapBytes = 16 << 20

// classifyHosts tells compute nodes from infrastructure with the admin's
// pattern and the name map's roles (fabric/ibnet.Classify).
func classifyHosts(fab *ibnet.Fabric, nameMap, infra string) (ibnet.Classification, error) {
	var opt ibnet.ClassifyOptions
	var err error
	if opt.Infra, err = ibnet.CompileInfra(infra); err != nil {
		return ibnet.Classification{}, err
	}
	if strings.TrimSpace(nameMap) != "" {
		if opt.Roles, err = ibnet.ParseMapRoles(strings.NewReader(nameMap)); err != nil {
			return ibnet.Classification{}, err
		}
	}
	return ibnet.Classify(fab, opt), nil
}

func (t *topologyService) Show(ctx context.Context, _ *pb.ShowTopologyRequest) (*pb.TopologySummary, error) {
	if imp := t.a.cfg.Fabric.Imported(); imp != nil {
		sum := summarize(imp.Fab, "imported")
		var infra []fsm.InfraHost
		t.a.cfg.Store.Read(func(st *fsm.State) { infra = st.Topology.Infra })
		for _, h := range infra {
			sum.Infrastructure = append(sum.Infrastructure, &pb.ClassifiedHost{Name: h.Name, Why: h.Why})
		}
		sum.ComputeHosts = sum.Hosts - uint32(len(infra))
		sum.ComputeLayout = uint32(ibnet.Classify(imp.Fab, ibnet.ClassifyOptions{}).Layout)
		return sum, nil
	}
	if t.a.cfg.RealNodes {
		return &pb.TopologySummary{Source: "none imported: nodes are unplaced until `ibex fabric import FILE` (ibnetdiscover output)"}, nil
	}
	out := &pb.TopologySummary{Source: "simulated fat tree",
		SwitchesPerLevel: []uint32{uint32(t.a.cfg.Fabric.FatTree().Leaves), uint32(t.a.cfg.Fabric.FatTree().Spines)}}
	byLeaf := map[string]*pb.LeafInfo{}
	for _, h := range t.a.cfg.Fabric.FatTree().Hosts() {
		l, ok := byLeaf[h.Leaf]
		if !ok {
			l = &pb.LeafInfo{Name: h.Leaf}
			byLeaf[h.Leaf] = l
			out.Leaves = append(out.Leaves, l)
		}
		l.Hosts = append(l.Hosts, h.Name)
		out.Hosts++
	}
	return out, nil
}

func (t *topologyService) Export(ctx context.Context, req *pb.ExportTopologyRequest) (*pb.ExportTopologyResponse, error) {
	if req.Format != "slurm" {
		return nil, status.Errorf(codes.InvalidArgument, "format %q: only \"slurm\" (topology.conf) is supported", req.Format)
	}
	imp := t.a.cfg.Fabric.Imported()
	if imp == nil {
		return nil, status.Error(codes.FailedPrecondition, "no imported topology: run `ibex fabric import FILE` first")
	}
	var b bytes.Buffer
	if err := ibnet.WriteSlurmTopology(&b, imp.Fab); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.ExportTopologyResponse{Text: b.String()}, nil
}

func summarize(fab *ibnet.Fabric, source string) *pb.TopologySummary {
	out := &pb.TopologySummary{Source: source, Hosts: uint32(len(fab.Hosts()))}
	for _, lvl := range fab.Levels() {
		out.SwitchesPerLevel = append(out.SwitchesPerLevel, uint32(len(lvl)))
	}
	for _, leaf := range fab.Leaves() {
		li := &pb.LeafInfo{Name: leaf.Name}
		for _, h := range fab.LeafHosts(leaf) {
			li.Hosts = append(li.Hosts, h.Name)
		}
		out.Leaves = append(out.Leaves, li)
	}
	out.Warnings = append(out.Warnings, fab.Warnings...)
	return out
}

func (t *topologyService) Health(ctx context.Context, _ *pb.FabricHealthRequest) (*pb.FabricHealthReport, error) {
	r := &pb.FabricHealthReport{Note: "no fabric to monitor: health needs --fabric=ibsim (or a real subnet manager host)"}
	if t.a.cfg.Health != nil {
		r = t.a.cfg.Health()
	}
	if t.a.cfg.Routes != nil {
		r.IsolationRoutes = t.a.cfg.Routes()
	}
	return r, nil
}
