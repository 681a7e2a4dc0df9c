// Package topotree builds scheduler.Trees from the topologies ibex knows:
// the generated fat tree of `ibexd --dev` and a parsed ibnetdiscover dump.
// It lives apart from scheduler so the scheduler itself stays free of
// fabric-parsing dependencies.
package topotree

import (
	"fmt"
	"slices"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/scheduler"
)

// FromFatTree is the leaf/spine tree of a generated fat tree. Every leaf is
// cabled to every spine, so for placement the spines are one switch above
// all leaves.
func FromFatTree(ft topology.FatTree) (*scheduler.Tree, error) {
	return FromFatTreeFeatures(ft, nil)
}

// FromFatTreeFeatures is FromFatTree with node feature labels (features may
// be nil).
func FromFatTreeFeatures(ft topology.FatTree, features func(host string) []string) (*scheduler.Tree, error) {
	if err := ft.Validate(); err != nil {
		return nil, err
	}
	b := scheduler.NewTreeBuilder()
	spines := ft.SpineNames()
	ups := map[string]bool{}
	for _, h := range ft.Hosts() {
		if _, seen := ups[h.Leaf]; !seen {
			ups[h.Leaf] = true
			for _, sp := range spines {
				b.Uplink(h.Leaf, sp) // one cable from every leaf to every spine
			}
		}
		b.Switch(h.Leaf, "spines")
		var fs []string
		if features != nil {
			fs = features(h.Name)
		}
		b.Host(h.Name, []string{h.Leaf}, fs...)
	}
	return b.Build()
}

// FromFabric turns a real fabric into a tree. Real fat trees are not trees:
// each leaf is cabled to several spines, each spine to many leaves. What
// placement needs is nesting, so level L of the tree is the connected
// components of the switches of levels 1..L (cables between adjacent levels
// only). In a three-level fat tree level 2 is then the pods and level 3 the
// whole fabric; in a leaf/spine fabric level 2 is everything. A component
// that adds no leaf to the one below it is not repeated.
//
// Hosts cabled to several leaves (rail-optimised nodes) become rail groups
// in the scheduler's sense. features may be nil.
func FromFabric(f *ibnet.Fabric, features func(host string) []string) (*scheduler.Tree, error) {
	b, name, err := fabricSwitches(f)
	if err != nil {
		return nil, err
	}
	for _, h := range f.Hosts() {
		var fs []string
		if features != nil {
			fs = features(h.Name)
		}
		b.Host(h.Name, hostLeaves(f, h.Name, name), fs...)
	}
	return b.Build()
}

// hostLeaves names the leaf switches a host is cabled to.
func hostLeaves(f *ibnet.Fabric, host string, name map[*ibnet.Node]string) []string {
	var leaves []string
	for _, l := range f.HostLeaves(host) {
		leaves = append(leaves, name[l])
	}
	return leaves
}

// fabricSwitches declares f's switch hierarchy (see FromFabric) in a new
// builder and returns it with the switches' unique names.
func fabricSwitches(f *ibnet.Fabric) (*scheduler.TreeBuilder, map[*ibnet.Node]string, error) {
	levels := f.Levels()
	if len(levels) == 0 {
		return nil, nil, fmt.Errorf("topotree: fabric has no leaf switches")
	}
	name := switchNames(f)
	b := scheduler.NewTreeBuilder()
	uf := map[*ibnet.Node]*ibnet.Node{}
	var find func(n *ibnet.Node) *ibnet.Node
	find = func(n *ibnet.Node) *ibnet.Node {
		p, ok := uf[n]
		if !ok || p == n {
			uf[n] = n
			return n
		}
		r := find(p)
		uf[n] = r
		return r
	}
	// top maps each leaf to the tree node currently on top of it.
	top := map[*ibnet.Node]string{}
	for _, l := range levels[0] {
		top[l] = name[l]
		b.Switch(name[l], "")
		// Every cable up from the leaf is a link isolated jobs can hold.
		for _, p := range l.Ports {
			if p == nil {
				continue
			}
			if r := p.Remote(); r != nil && r.Node.Kind == ibnet.KindSwitch && r.Node.Level == l.Level+1 {
				b.Uplink(name[l], name[r.Node])
			}
		}
	}
	for li := 1; li < len(levels); li++ {
		for _, sw := range levels[li] {
			for _, c := range f.Children(sw) {
				a, z := find(sw), find(c)
				if a != z {
					uf[a] = z
				}
			}
		}
		comps := map[*ibnet.Node][]*ibnet.Node{} // root -> leaves
		var roots []*ibnet.Node
		for _, l := range levels[0] {
			r := find(l)
			if _, ok := comps[r]; !ok {
				roots = append(roots, r)
			}
			comps[r] = append(comps[r], l)
		}
		for _, r := range roots {
			leaves := comps[r]
			var tops []string
			for _, l := range leaves {
				if !slices.Contains(tops, top[l]) {
					tops = append(tops, top[l])
				}
			}
			if len(tops) < 2 {
				continue
			}
			nm := componentName(li+1, levels[li], find, r, name)
			for _, t := range tops {
				b.Switch(t, nm)
			}
			b.Switch(nm, "")
			for _, l := range leaves {
				top[l] = nm
			}
		}
	}
	return b, name, nil
}

// componentName names a component after its first switch of that level:
// "L2:spine01" is the level-2 group that spine01 belongs to.
func componentName(level int, sws []*ibnet.Node, find func(*ibnet.Node) *ibnet.Node, root *ibnet.Node, name map[*ibnet.Node]string) string {
	for _, sw := range sws {
		if find(sw) == root {
			return fmt.Sprintf("L%d:%s", level, name[sw])
		}
	}
	return fmt.Sprintf("L%d:?", level)
}

// switchNames gives every switch a unique name: its resolved name, or the
// name plus its dump ID when two switches share one.
func switchNames(f *ibnet.Fabric) map[*ibnet.Node]string {
	count := map[string]int{}
	for _, lv := range f.Levels() {
		for _, sw := range lv {
			count[sw.Name]++
		}
	}
	out := map[*ibnet.Node]string{}
	for _, lv := range f.Levels() {
		for _, sw := range lv {
			if count[sw.Name] > 1 {
				out[sw] = sw.Name + "(" + sw.ID + ")"
			} else {
				out[sw] = sw.Name
			}
		}
	}
	return out
}

// SwitchGUIDs maps the names the tree built from f gives its switches
// (leaf and spine names in its link names, "leaf01>spine02") to their
// node GUIDs, so the routing loop finds the cables a job holds on the
// fabric the subnet manager sees by GUID, whatever that dump calls them.
func SwitchGUIDs(f *ibnet.Fabric) map[string]uint64 {
	out := map[string]uint64{}
	for sw, name := range switchNames(f) {
		if sw.GUID != 0 {
			out[name] = sw.GUID
		}
	}
	return out
}
