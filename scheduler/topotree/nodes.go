package topotree

import (
	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/scheduler"
)

// Nodes are real machines to place on an imported fabric.
type Nodes struct {
	// OnHost maps a host of the dump to the node placed on it (matched by
	// port GUIDs, see fabric/placement). Hosts without a node are left
	// out: nothing runs there.
	OnHost map[string]string
	// Alone are nodes whose place is unknown: each becomes a leaf group of
	// its own ("unplaced:NAME") under the root, so the scheduler never
	// counts it as sharing a leaf with anyone.
	Alone []string
	// Features gives a node's labels; nil for none.
	Features func(node string) []string
}

// FromFabricNodes is FromFabric for real machines: the tree has the
// fabric's switches, the nodes in place of the hosts they were matched to,
// and the unplaced nodes on leaves of their own. f may be nil (no topology
// imported: every node is alone).
func FromFabricNodes(f *ibnet.Fabric, nodes Nodes) (*scheduler.Tree, error) {
	b := scheduler.NewTreeBuilder()
	feats := func(n string) []string {
		if nodes.Features == nil {
			return nil
		}
		return nodes.Features(n)
	}
	if f != nil && len(nodes.OnHost) > 0 {
		var name map[*ibnet.Node]string
		var err error
		if b, name, err = fabricSwitches(f); err != nil {
			return nil, err
		}
		for _, h := range f.Hosts() {
			if node, ok := nodes.OnHost[h.Name]; ok {
				b.Host(node, hostLeaves(f, h.Name, name), feats(node)...)
			}
		}
	}
	for _, n := range nodes.Alone {
		leaf := "unplaced:" + n
		b.Switch(leaf, "")
		b.Host(n, []string{leaf}, feats(n)...)
	}
	return b.Build()
}
