package fabricview

import (
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/placement"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/scheduler/topotree"
)

// The fabric of real machines. Their nodes (model.Node.Placement set) were
// placed by the state machine, which matched the port GUIDs their agents
// reported against the imported topology (fabric/placement has the rule).
// Here that becomes what the scheduler and the partition controller use:
// each placed node takes its topology host's place in the tree, each
// unplaced node is a leaf of its own, a refused node is left out (never
// scheduled), and a node's partition ports are the GUIDs its agent
// reported. Nodes without Placement (simulated ones, e.g. left from a
// --simulate data dir) are left out of a real-machine tree.

// HostPlaces lists a parsed dump's hosts with the leaf of their first
// cabled port ("" when none) and their cabled port GUIDs, for the state
// machine to place real machines on (fsm.ImportTopology.Places).
func HostPlaces(fab *ibnet.Fabric) []placement.Host {
	var out []placement.Host
	for _, h := range fab.Hosts() {
		p := placement.Host{Name: h.Name}
		if leaves := fab.HostLeaves(h.Name); len(leaves) > 0 {
			p.Leaf = leaves[0].Name
		}
		for _, g := range hostPorts(h) {
			p.Ports = append(p.Ports, uint64(g))
		}
		out = append(out, p)
	}
	return out
}

// hostPorts are the GUIDs of a host's cabled HCA ports.
func hostPorts(h *ibnet.Host) []sm.GUID {
	var out []sm.GUID
	for _, hca := range h.HCAs {
		if hca.CA != nil && hca.Port > 0 && hca.Port < len(hca.CA.Ports) && hca.CA.Ports[hca.Port] != nil {
			if g := hca.CA.Ports[hca.Port].GUID; g != 0 {
				out = append(out, sm.GUID(g))
			}
		}
	}
	return out
}

// hasRealNodes reports whether the cluster's nodes are enrolled machines.
func hasRealNodes(nodes []*model.Node) bool {
	return slices.ContainsFunc(nodes, func(n *model.Node) bool { return n.Placement != nil })
}

// realTree is the scheduling tree of real machines, cached by what it is
// built from (the import, each node's place and labels). The leader asks
// for it every pass, so the unchanged case costs one walk of the nodes
// compared with the inputs of the cached tree: no sort (fsm.Work gives
// the nodes in name order; another order is sorted first) and no key
// string (BenchmarkRealTreeUnchanged).
func (v *View) realTree(nodes []*model.Node) *scheduler.Tree {
	imp := v.Imported()
	var gen uint64
	if imp != nil {
		gen = imp.gen
	}
	byName := func(a, b *model.Node) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(nodes, byName) {
		nodes = slices.Clone(nodes)
		slices.SortFunc(nodes, byName)
	}
	v.labelled.mu.Lock()
	defer v.labelled.mu.Unlock()
	if v.labelled.tree != nil && v.labelled.real.same(gen, nodes) {
		return v.labelled.tree
	}
	in := &realInputs{gen: gen}
	spec := topotree.Nodes{OnHost: map[string]string{}}
	feats := map[string][]string{}
	for _, n := range nodes {
		p := n.Placement
		if p == nil || p.Refused {
			continue
		}
		in.entries = append(in.entries, realEntry{name: n.Name, host: p.Host, feats: slices.Clone(n.Features), infra: isInfraLabelled(n)})
		host := p.Host
		if imp == nil || imp.Fab.Host(host) == nil {
			host = "" // placed on a dump that is no longer the imported one
		}
		if host != "" {
			spec.OnHost[host] = n.Name
		} else {
			spec.Alone = append(spec.Alone, n.Name)
		}
		feats[n.Name] = treeFeatures(n)
	}
	spec.Features = func(n string) []string { return feats[n] }
	var fab *ibnet.Fabric
	if imp != nil {
		fab = imp.Fab
	}
	t, err := topotree.FromFabricNodes(fab, spec)
	if err != nil {
		if len(spec.OnHost)+len(spec.Alone) > 0 {
			v.log.Error("real nodes' tree", "err", err)
		}
		t = scheduler.TreeFromNodes(nil) // places nothing
	}
	v.labelled.key, v.labelled.real, v.labelled.tree = realKey, in, t
	return t
}

// realKey marks the labelled cache as holding a real-machine tree: no key
// of a configured fat tree's labels equals it.
const realKey = "real|"

// realInputs are what a real-machine tree was built from: the import's
// parse number and, in name order, every node placed or unplaced (not
// refused) with its placement host as recorded (whether the import knows
// it depends only on that host and the import) and its labels.
type realInputs struct {
	gen     uint64
	entries []realEntry
}

type realEntry struct {
	name, host string
	feats      []string
	infra      bool
}

// same reports whether nodes (in name order) give the tree in was built
// from.
func (in *realInputs) same(gen uint64, nodes []*model.Node) bool {
	if in == nil || in.gen != gen {
		return false
	}
	i := 0
	for _, n := range nodes {
		p := n.Placement
		if p == nil || p.Refused {
			continue
		}
		if i == len(in.entries) {
			return false
		}
		e := &in.entries[i]
		i++
		if e.name != n.Name || e.host != p.Host || e.infra != isInfraLabelled(n) || !slices.Equal(e.feats, n.Features) {
			return false
		}
	}
	return i == len(in.entries)
}

// isInfraLabelled: treeFeatures adds scheduler.InfraFeature to the node's
// labels.
func isInfraLabelled(n *model.Node) bool { return n.Infra != "" && len(n.Features) > 0 }

// realNodePorts returns the ports of a node that is a real machine: the
// GUIDs its agent reported, none while it is refused. ok is false for
// any other node.
func realNodePorts(st *fsm.State, name string) (ports []sm.GUID, ok bool) {
	n := st.Nodes[name]
	if n == nil || n.Placement == nil {
		return nil, false
	}
	if n.Placement.Refused {
		return nil, true
	}
	for _, g := range n.Placement.Ports {
		ports = append(ports, sm.GUID(g))
	}
	return ports, true
}
