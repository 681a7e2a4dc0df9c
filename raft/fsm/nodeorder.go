package fsm

import (
	"maps"
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
)

// The node table in name order, kept across applies. Every leader pass
// (Work) and several readers list the nodes in name order; sorting 100,000
// names each time cost some 40 ms a pass, more than the scheduling. Nodes
// are only ever added (never removed or replaced), so the order changes
// only when a node is added: addNode notes it, and keepNodeOrder merges
// the additions in once per applied entry, under the write lock.
//
// The order holds the same *model.Node pointers as the Nodes map. A
// reader trusts it only when it covers exactly the map (nodeOrderFresh);
// a state changed some other way (a test writing the map directly) gets a
// fresh sort, never a stale order.

// byName orders nodes by name.
func byName(a, b *model.Node) int { return strings.Compare(a.Name, b.Name) }

// addNode puts a new node into the table. n.Name must not be in it yet.
func (s *State) addNode(n *model.Node) {
	s.Nodes[n.Name] = n
	s.idx.nodesAdded = append(s.idx.nodesAdded, n)
}

// keepNodeOrder brings the order up to date after an apply: the nodes
// added since are sorted and merged in, O(nodes) once per entry that added
// any; anything else out of step with the map is rebuilt. Write lock only.
func (s *State) keepNodeOrder() {
	if len(s.idx.nodesAdded) > 0 && len(s.idx.nodes)+len(s.idx.nodesAdded) == len(s.Nodes) {
		added := s.idx.nodesAdded
		slices.SortFunc(added, byName)
		merged := make([]*model.Node, 0, len(s.Nodes))
		old := s.idx.nodes
		for len(old) > 0 && len(added) > 0 {
			if byName(old[0], added[0]) <= 0 {
				merged, old = append(merged, old[0]), old[1:]
			} else {
				merged, added = append(merged, added[0]), added[1:]
			}
		}
		s.idx.nodes = append(append(merged, old...), added...)
	}
	s.idx.nodesAdded = nil
	if len(s.idx.nodes) != len(s.Nodes) {
		s.rebuildNodeOrder()
	}
}

// rebuildNodeOrder sorts the whole table.
func (s *State) rebuildNodeOrder() {
	s.idx.nodes, s.idx.nodesAdded = sortedTable(s.Nodes), nil
}

// sortedTable is the node table in name order, freshly sorted.
func sortedTable(nodes map[string]*model.Node) []*model.Node {
	out := slices.Collect(maps.Values(nodes))
	slices.SortFunc(out, byName)
	return out
}

// nodeOrderFresh reports whether idx.nodes is the table in name order: it
// covers the map and no addition waits to be merged.
func (s *State) nodeOrderFresh() bool {
	return len(s.idx.nodesAdded) == 0 && len(s.idx.nodes) == len(s.Nodes)
}

// nodesInOrder is the table in name order, shared: callers must not
// modify the slice. Safe under the read lock (it never writes the index).
func (s *State) nodesInOrder() []*model.Node {
	if s.nodeOrderFresh() {
		return s.idx.nodes
	}
	return sortedTable(s.Nodes)
}

// orderFrom gives the clone c the order of s, mapped to c's own nodes.
func (c *State) orderFrom(s *State) {
	if !s.nodeOrderFresh() {
		c.rebuildNodeOrder()
		return
	}
	c.idx.nodes = make([]*model.Node, len(s.idx.nodes))
	for i, n := range s.idx.nodes {
		c.idx.nodes[i] = c.Nodes[n.Name]
	}
	c.idx.nodesAdded = nil
}

// nodeCloneChunk is how many node copies Work allocates at once: one
// allocation per node was 100,000 a pass on a large fabric, while one for
// all of them would keep a whole pass's copies alive for as long as any
// background step holds one node.
const nodeCloneChunk = 64

// cloneNodes copies nodes for a reader outside the lock, in chunks.
func cloneNodes(nodes []*model.Node) []*model.Node {
	out := make([]*model.Node, len(nodes))
	var chunk []model.Node
	for i, n := range nodes {
		if len(chunk) == 0 {
			chunk = make([]model.Node, min(nodeCloneChunk, len(nodes)-i))
		}
		n.CloneTo(&chunk[0])
		out[i] = &chunk[0]
		chunk = chunk[1:]
	}
	return out
}
