package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
)

// TreeBuilder assembles a Tree from switches (each with its parent) and
// hosts (each with the leaf switches its HCAs are cabled to). Adapters for
// the generated fat tree and for ibnetdiscover dumps live in
// scheduler/topotree; tests and the trace simulator use it directly.
type TreeBuilder struct {
	parent  map[string]string
	swOrder []string
	hosts   []bhost
	seen    map[string]bool
	err     error
	// uplinks: leaf switch -> the switch above at the far end of each of
	// its uplink cables (Uplink), for link isolation.
	uplinks map[string][]string
}

type bhost struct {
	name     string
	leaves   []string
	features []string
}

// NewTreeBuilder returns an empty builder.
func NewTreeBuilder() *TreeBuilder {
	return &TreeBuilder{parent: map[string]string{}, seen: map[string]bool{}, uplinks: map[string][]string{}}
}

// Uplink declares one cable from leaf switch leaf to switch spine above it
// (call it once per cable: parallel cables are separate links). Uplinks
// are what link-isolated jobs hold (links.go); a tree without any has
// only single-leaf isolated placements.
func (b *TreeBuilder) Uplink(leaf, spine string) {
	b.uplinks[leaf] = append(b.uplinks[leaf], spine)
}

// Switch declares a switch under parent ("" for a top-level switch).
// Declaring it again moves it. Leaves need not be declared: a leaf named
// only by Host is a top-level switch.
func (b *TreeBuilder) Switch(name, parent string) {
	if name == "" {
		b.fail(errors.New("scheduler: switch with empty name"))
		return
	}
	if _, ok := b.parent[name]; !ok {
		b.swOrder = append(b.swOrder, name)
	}
	b.parent[name] = parent
}

// Host adds a host cabled to the given leaf switches (one for a plain node,
// one per rail for a multi-HCA node) with optional features. A host with no
// leaf is kept out of the tree and listed by Unplaced.
func (b *TreeBuilder) Host(name string, leaves []string, features ...string) {
	if b.seen[name] {
		b.fail(fmt.Errorf("scheduler: host %q added twice", name))
		return
	}
	b.seen[name] = true
	ls := slices.Clone(leaves)
	slices.Sort(ls)
	ls = slices.Compact(ls)
	fs := slices.Clone(features)
	slices.Sort(fs)
	fs = slices.Compact(fs)
	b.hosts = append(b.hosts, bhost{name: name, leaves: ls, features: fs})
}

func (b *TreeBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// bnode is a vertex of the tree under construction: a switch, or a leaf
// group (isGroup) hanging under one.
type bnode struct {
	name     string
	isGroup  bool
	leaves   []string
	hosts    []int // indexes into TreeBuilder.hosts
	children []*bnode
}

// Build checks the switch hierarchy (no cycles) and lays the tree out so
// that every subtree's leaf groups and hosts are contiguous ranges.
func (b *TreeBuilder) Build() (*Tree, error) {
	if b.err != nil {
		return nil, b.err
	}
	for _, h := range b.hosts {
		for _, l := range h.leaves {
			if _, ok := b.parent[l]; !ok {
				b.Switch(l, "")
			}
		}
	}
	for _, s := range slices.Clone(b.swOrder) {
		if p := b.parent[s]; p != "" {
			if _, ok := b.parent[p]; !ok {
				b.Switch(p, "")
			}
		}
	}
	for _, s := range b.swOrder {
		cur, steps := s, 0
		for cur != "" {
			if steps++; steps > len(b.swOrder) {
				return nil, fmt.Errorf("scheduler: switch %q is its own ancestor", s)
			}
			cur = b.parent[cur]
		}
	}
	groups := map[string]*bnode{}
	var groupOrder []*bnode
	t := &Tree{}
	for i, h := range b.hosts {
		if len(h.leaves) == 0 {
			t.unplaced = append(t.unplaced, h.name)
			continue
		}
		key := h.leaves[0]
		if len(h.leaves) > 1 {
			key = "rails:" + strings.Join(h.leaves, "+")
		}
		g := groups[key]
		if g == nil {
			g = &bnode{name: key, isGroup: true, leaves: h.leaves}
			groups[key] = g
			groupOrder = append(groupOrder, g)
		}
		g.hosts = append(g.hosts, i)
	}
	// A rail group whose leaves sit under different switches below their
	// lowest common one (a rail-optimised fabric: each rail has its own
	// spines) belongs to the pod those spines serve: declare that pod.
	railParent := map[*bnode]string{}
	for _, g := range groupOrder {
		if len(g.leaves) > 1 {
			railParent[g] = b.railPod(g.leaves)
		}
	}
	// Attach groups: a plain leaf's group hangs where the leaf switch does
	// (or under it, if the leaf also has switches below it); a rail group
	// hangs under its pod (railPod).
	sw := make(map[string]*bnode, len(b.swOrder))
	for _, s := range b.swOrder {
		sw[s] = &bnode{name: s}
	}
	hasChildSwitch := map[string]bool{}
	for _, s := range b.swOrder {
		if p := b.parent[s]; p != "" {
			hasChildSwitch[p] = true
		}
	}
	if len(groupOrder) == 0 {
		return nil, errors.New("scheduler: tree has no placeable hosts")
	}
	var top []*bnode
	used := map[string]bool{} // switches with hosts somewhere below
	attach := func(n *bnode, parent string) {
		if parent == "" {
			top = append(top, n)
			return
		}
		sw[parent].children = append(sw[parent].children, n)
		if n.isGroup {
			for p := parent; p != "" && !used[p]; p = b.parent[p] {
				used[p] = true
			}
		}
	}
	for _, g := range groupOrder {
		if len(g.leaves) == 1 {
			l := g.leaves[0]
			if hasChildSwitch[l] {
				attach(g, l)
			} else {
				attach(g, b.parent[l])
			}
			continue
		}
		attach(g, railParent[g])
	}
	for _, s := range b.swOrder {
		if used[s] {
			attach(sw[s], b.parent[s])
		}
	}
	root := &bnode{name: "(fabric)", children: top}
	synth := true
	if len(top) == 1 && !top[0].isGroup {
		root, synth = top[0], false
	}
	t.layout(root, b.hosts)
	t.nodes[0].synth = synth
	t.buildLinks(b.uplinks)
	return t, nil
}

// railPod is where a rail group hangs. Below the lowest switch above all
// of its leaves (lca), each leaf has its own chain of switches, one per
// rail: in a rail-optimised fabric rail r of a pod has its own spines, and
// the lowest common switch is the core above every pod. The set of
// switches the chains reach at each height is then what the group's pod
// is made of: every rail group of the pod has the same set, one of another
// pod a different one. railPod declares a switch "pod:a+b+..." for each
// such set (nested like the sets) and returns the lowest; when the chains
// have different lengths it returns lca.
func (b *TreeBuilder) railPod(leaves []string) string {
	top := b.lca(leaves)
	var chains [][]string
	for _, l := range leaves {
		var c []string
		for cur := b.parent[l]; cur != top; cur = b.parent[cur] {
			c = append(c, cur)
		}
		if len(chains) > 0 && len(c) != len(chains[0]) {
			return top
		}
		chains = append(chains, c)
	}
	parent := top
	for k := len(chains[0]) - 1; k >= 0; k-- {
		var set []string
		for _, c := range chains {
			set = append(set, c[k])
		}
		slices.SortFunc(set, natCompare)
		set = slices.Compact(set)
		if len(set) < 2 {
			return top // a switch common to all below lca: cannot be
		}
		name := "pod:" + strings.Join(set, "+")
		b.Switch(name, parent)
		parent = name
	}
	return parent
}

// lca is the lowest switch above every given leaf, or "" if they are in
// different top-level subtrees.
func (b *TreeBuilder) lca(leaves []string) string {
	anc := map[string]int{}
	for _, l := range leaves {
		for cur := b.parent[l]; cur != ""; cur = b.parent[cur] {
			anc[cur]++
		}
	}
	for cur := b.parent[leaves[0]]; cur != ""; cur = b.parent[cur] {
		if anc[cur] == len(leaves) {
			return cur
		}
	}
	return ""
}

// layout numbers groups and hosts in depth-first order (children by
// natural name order) and computes levels by height, so a leaf/spine tree
// has levels 1 and 2 and a pod tree 1, 2 and 3 whatever the switch names.
func (t *Tree) layout(root *bnode, hosts []bhost) {
	t.hostIdx = map[string]int32{}
	classIdx := map[string]int32{}
	var walk func(n *bnode, parent int32) int
	walk = func(n *bnode, parent int32) int {
		if n.isGroup {
			gi := int32(len(t.groups))
			lo := int32(len(t.hostNames))
			for _, hi := range n.hosts {
				h := hosts[hi]
				key := strings.Join(h.features, "\x00")
				c, ok := classIdx[key]
				if !ok {
					c = int32(len(t.classes))
					classIdx[key] = c
					t.classes = append(t.classes, h.features)
					t.restricted = t.restricted || slices.Contains(h.features, InfraFeature)
				}
				t.hostIdx[h.name] = int32(len(t.hostNames))
				t.hostNames = append(t.hostNames, h.name)
				t.hostGroup = append(t.hostGroup, gi)
				t.hostClass = append(t.hostClass, c)
			}
			t.groups = append(t.groups, group{name: n.name, leaves: n.leaves, lo: lo, hi: int32(len(t.hostNames)), parent: parent})
			t.maxGroupSize = max(t.maxGroupSize, len(n.hosts))
			return 1
		}
		ni := int32(len(t.nodes))
		t.nodes = append(t.nodes, tnode{name: n.name, parent: parent, glo: int32(len(t.groups))})
		slices.SortFunc(n.children, func(a, b *bnode) int { return natCompare(a.name, b.name) })
		level := 0
		for _, c := range n.children {
			level = max(level, walk(c, ni)+1)
		}
		t.nodes[ni].level = level
		t.nodes[ni].ghi = int32(len(t.groups))
		return level
	}
	walk(root, -1)
	t.levels = make([][]int32, t.nodes[0].level+1)
	for i, n := range t.nodes {
		t.levels[n.level] = append(t.levels[n.level], int32(i))
	}
	t.levels = t.levels[2:]
	t.buildBounds()
}

// TreeFromNodes builds a two-level tree from the nodes' Leaf fields: the
// topology every ibexd has even without a fabric dump. Nodes are ordered by
// name within a leaf.
func TreeFromNodes(nodes []*model.Node) *Tree {
	b := NewTreeBuilder()
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *model.Node) int { return natCompare(a.Name, b.Name) })
	for _, n := range sorted {
		leaf := n.Leaf
		if leaf == "" {
			leaf = "(no leaf)"
		}
		b.Switch(leaf, "spines")
		b.Host(n.Name, []string{leaf})
	}
	t, err := b.Build()
	if err != nil {
		return emptyTree()
	}
	return t
}

// emptyTree has no hosts; every placement on it fails.
func emptyTree() *Tree {
	return &Tree{hostIdx: map[string]int32{}, nodes: []tnode{{name: "(fabric)", level: 2, synth: true}}, classes: [][]string{nil},
		bounds: boundIndex{gcap: [][]int32{nil}}}
}

// SyntheticTree builds a regular fat tree of the given number of hosts,
// named node001.. (at least three digits, like topology.FatTree) on leaves
// of leafSize hosts; the last leaf is partly filled when leafSize does not
// divide hosts. leavesPerPod > 0 adds a pod level (a three-level fat tree);
// 0 gives leaf/spine.
func SyntheticTree(hosts, leafSize, leavesPerPod int) (*Tree, error) {
	if hosts < 1 || leafSize < 1 || leavesPerPod < 0 {
		return nil, errors.New("scheduler: synthetic tree needs hosts and leaf size of at least 1")
	}
	leaves := (hosts + leafSize - 1) / leafSize
	hw := max(3, len(fmt.Sprint(hosts)))
	lw := max(2, len(fmt.Sprint(leaves)))
	b := NewTreeBuilder()
	pods := 0
	if leavesPerPod > 0 {
		pods = (leaves + leavesPerPod - 1) / leavesPerPod
	}
	pw := max(2, len(fmt.Sprint(pods)))
	for l := range leaves {
		parent := "spines"
		if leavesPerPod > 0 {
			parent = fmt.Sprintf("pod%0*d", pw, l/leavesPerPod+1)
			b.Switch(parent, "core")
		}
		leaf := fmt.Sprintf("leaf%0*d", lw, l+1)
		b.Switch(leaf, parent)
		// Full bisection: one uplink per host slot, one to each spine (of
		// the pod, in a three-level tree).
		sw := max(2, len(fmt.Sprint(leafSize)))
		for s := range leafSize {
			if leavesPerPod > 0 {
				b.Uplink(leaf, fmt.Sprintf("%s-spine%0*d", parent, sw, s+1))
			} else {
				b.Uplink(leaf, fmt.Sprintf("spine%0*d", sw, s+1))
			}
		}
	}
	one := make([]string, 1)
	for i := range hosts {
		one[0] = fmt.Sprintf("leaf%0*d", lw, i/leafSize+1)
		b.Host(fmt.Sprintf("node%0*d", hw, i+1), one)
	}
	return b.Build()
}

// natCompare orders strings with embedded numbers as numbers, so leaf2
// comes before leaf10 (hosts and switches are rarely zero-padded on real
// fabrics).
func natCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := digits(a), digits(b)
			na, nb := strings.TrimLeft(a[:i], "0"), strings.TrimLeft(b[:j], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			if c := i - j; c != 0 {
				return c
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
