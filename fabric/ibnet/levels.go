package ibnet

import (
	"slices"

	"github.com/ibex-hpc/ibex/hostlist"
)

// computeLevels assigns switch levels by a multi-source breadth-first
// search from the leaves over switch-to-switch cables. Names are never
// consulted: sites call their switches anything, and a "spine" with a login
// node cabled to it is, for placement purposes, a leaf. Cost is
// O(switches + links).
func computeLevels(f *Fabric) {
	var queue []*Node
	for _, n := range f.Nodes {
		if n.Kind != KindSwitch {
			continue
		}
		n.Level = 0
		if len(f.leafHosts[n]) > 0 {
			n.Level = 1
			queue = append(queue, n)
		}
	}
	for i := 0; i < len(queue); i++ {
		sw := queue[i]
		for _, p := range sw.Ports {
			r := p.Remote()
			if r != nil && r.Node.Kind == KindSwitch && r.Node.Level == 0 {
				r.Node.Level = sw.Level + 1
				queue = append(queue, r.Node)
			}
		}
	}
	// BFS visits levels in order, so the queue is already grouped by level.
	f.levels = nil
	for _, sw := range queue {
		if sw.Level > len(f.levels) {
			f.levels = append(f.levels, nil)
		}
		f.levels[sw.Level-1] = append(f.levels[sw.Level-1], sw)
	}
	for _, lv := range f.levels {
		slices.SortFunc(lv, byName)
	}
}

func byName(a, b *Node) int { return hostlist.Compare(a.Name, b.Name) }

// Children lists the switches one level below sw that are cabled to it,
// sorted by name: the "Switches=" of a topology.conf line. Parallel cables
// count once. A leaf has no child switches (its hosts are LeafHosts).
func (f *Fabric) Children(sw *Node) []*Node {
	return f.neighbours(sw, sw.Level-1)
}

// Parents lists the switches one level above sw that are cabled to it.
func (f *Fabric) Parents(sw *Node) []*Node {
	return f.neighbours(sw, sw.Level+1)
}

func (f *Fabric) neighbours(sw *Node, level int) []*Node {
	if sw == nil || sw.Kind != KindSwitch || sw.Level == 0 || level < 1 {
		return nil
	}
	var out []*Node
	for _, p := range sw.Ports {
		r := p.Remote()
		if r != nil && r.Node.Kind == KindSwitch && r.Node.Level == level && !slices.Contains(out, r.Node) {
			out = append(out, r.Node)
		}
	}
	slices.SortFunc(out, byName)
	return out
}
