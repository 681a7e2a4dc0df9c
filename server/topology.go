package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/scheduler/topotree"
)

// maxTopologyBytes bounds an imported dump (a 10,000-switch fabric is a few
// tens of MB; the raft log is not the place for more).
const maxTopologyBytes = 64 << 20

// importedFabric is the parsed form of the state's imported topology,
// cached by the text's digest: every server derives it the same way.
type importedFabric struct {
	mu    sync.Mutex
	key   [32]byte
	fab   *ibnet.Fabric
	tree  *scheduler.Tree
	ports map[string][]sm.GUID
}

func parseTopology(text, nameMap string) (*ibnet.Fabric, error) {
	var opt ibnet.Options
	if strings.TrimSpace(nameMap) != "" {
		m, err := ibnet.ParseNameMap(strings.NewReader(nameMap))
		if err != nil {
			return nil, err
		}
		opt.Names = m
	}
	return ibnet.ParseOptions(strings.NewReader(text), opt)
}

// imported returns the imported fabric, its scheduling tree and host port
// GUIDs, or nil when the cluster runs on its configured fat tree.
func (s *Server) imported() *importedFabric {
	var topo fsm.Topology
	s.fsm.Read(func(st *fsm.State) { topo = st.Topology })
	if topo.Text == "" {
		return nil
	}
	key := sha256.Sum256([]byte(topo.NameMap + "\x00" + topo.Text))
	c := &s.topo
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fab != nil && c.key == key {
		return c
	}
	fab, err := parseTopology(topo.Text, topo.NameMap)
	if err != nil {
		s.log.Error("imported topology no longer parses", "err", err)
		return nil
	}
	tree, err := topotree.FromFabric(fab, nil)
	if err != nil {
		s.log.Error("imported topology", "err", err)
		return nil
	}
	ports := map[string][]sm.GUID{}
	for _, h := range fab.Hosts() {
		for _, hca := range h.HCAs {
			if hca.CA != nil && hca.Port > 0 && hca.Port < len(hca.CA.Ports) && hca.CA.Ports[hca.Port] != nil {
				if g := hca.CA.Ports[hca.Port].GUID; g != 0 {
					ports[h.Name] = append(ports[h.Name], sm.GUID(g))
				}
			}
		}
	}
	c.key, c.fab, c.tree, c.ports = key, fab, tree, ports
	return c
}

// schedTree is the tree placement uses: the imported fabric, or the
// configured fat tree, with the nodes' feature labels. A labelled tree is
// rebuilt only when the labels change.
func (s *Server) schedTree(nodes []*model.Node) *scheduler.Tree {
	var b strings.Builder
	feats := map[string][]string{}
	for _, n := range nodes {
		if len(n.Features) > 0 {
			feats[n.Name] = n.Features
			fmt.Fprintf(&b, "%s=%s;", n.Name, strings.Join(n.Features, ","))
		}
	}
	imp := s.imported()
	if len(feats) == 0 {
		if imp != nil {
			return imp.tree
		}
		return s.tree
	}
	key := b.String()
	if imp != nil {
		key = fmt.Sprintf("%x|%s", imp.key, key)
	}
	s.labelled.mu.Lock()
	defer s.labelled.mu.Unlock()
	if s.labelled.tree != nil && s.labelled.key == key {
		return s.labelled.tree
	}
	lookup := func(h string) []string { return feats[h] }
	var t *scheduler.Tree
	var err error
	if imp != nil {
		t, err = topotree.FromFabric(imp.fab, lookup)
	} else {
		t, err = topotree.FromFatTreeFeatures(s.cfg.Fabric, lookup)
	}
	if err != nil {
		s.log.Error("labelled tree", "err", err)
		return s.tree
	}
	s.labelled.key, s.labelled.tree = key, t
	return t
}

// labelledTree caches the scheduling tree with feature labels.
type labelledTree struct {
	mu   sync.Mutex
	key  string
	tree *scheduler.Tree
}

type topologyService struct {
	pb.UnimplementedTopologyServer
	s *Server
}

func (t *topologyService) Import(ctx context.Context, req *pb.ImportTopologyRequest) (*pb.TopologySummary, error) {
	if err := requireAdmin(ctx); err != nil {
		return nil, err
	}
	if len(req.Text) > maxTopologyBytes {
		return nil, status.Errorf(codes.InvalidArgument, "topology larger than %d MiB", maxTopologyBytes>>20)
	}
	fab, err := parseTopology(req.Text, req.NameMap)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if _, err := topotree.FromFabric(fab, nil); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cmd := &fsm.ImportTopology{Text: req.Text, NameMap: req.NameMap, Time: t.s.now()}
	for _, h := range fab.Hosts() {
		leaves := fab.HostLeaves(h.Name)
		if len(leaves) == 0 {
			continue // a host on no leaf cannot be placed
		}
		cmd.Hosts = append(cmd.Hosts, fsm.NodeSpec{Name: h.Name, Leaf: leaves[0].Name})
	}
	if len(cmd.Hosts) == 0 {
		return nil, status.Error(codes.InvalidArgument, "the dump has no hosts on leaf switches")
	}
	if _, err := t.s.apply(ctx, cmd); err != nil {
		return nil, toStatus(err)
	}
	return summarize(fab, "imported"), nil
}

func (t *topologyService) Show(ctx context.Context, _ *pb.ShowTopologyRequest) (*pb.TopologySummary, error) {
	if imp := t.s.imported(); imp != nil {
		return summarize(imp.fab, "imported"), nil
	}
	out := &pb.TopologySummary{Source: "simulated fat tree",
		SwitchesPerLevel: []uint32{uint32(t.s.cfg.Fabric.Leaves), uint32(t.s.cfg.Fabric.Spines)}}
	byLeaf := map[string]*pb.LeafInfo{}
	for _, h := range t.s.cfg.Fabric.Hosts() {
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
	imp := t.s.imported()
	if imp == nil {
		return nil, status.Error(codes.FailedPrecondition, "no imported topology: run `ibex fabric import FILE` first")
	}
	var b bytes.Buffer
	if err := ibnet.WriteSlurmTopology(&b, imp.fab); err != nil {
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
