package fabricview

import (
	"fmt"
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
// built from (the import, each node's place and labels).
func (v *View) realTree(nodes []*model.Node) *scheduler.Tree {
	imp := v.Imported()
	var b strings.Builder
	if imp != nil {
		fmt.Fprintf(&b, "%d|", imp.gen)
	}
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *model.Node) int { return strings.Compare(a.Name, b.Name) })
	spec := topotree.Nodes{OnHost: map[string]string{}}
	feats := map[string][]string{}
	for _, n := range sorted {
		p := n.Placement
		if p == nil || p.Refused {
			continue
		}
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
		fmt.Fprintf(&b, "%s@%s=%s;", n.Name, host, strings.Join(feats[n.Name], ","))
	}
	key := "real|" + b.String()
	v.labelled.mu.Lock()
	defer v.labelled.mu.Unlock()
	if v.labelled.tree != nil && v.labelled.key == key {
		return v.labelled.tree
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
	v.labelled.key, v.labelled.tree = key, t
	return t
}

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
