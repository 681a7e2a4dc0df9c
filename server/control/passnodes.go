package control

import (
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
)

// nodeNamed finds a node of a pass's view (fsm.Work.Nodes, in name order)
// by binary search. A map of every node, built each pass for the few
// nodes a plan starts jobs on, cost more than the scheduling itself on a
// 100,000-node fabric.
func nodeNamed(nodes []*model.Node, name string) *model.Node {
	i, ok := slices.BinarySearchFunc(nodes, name, func(n *model.Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil
	}
	return nodes[i]
}
