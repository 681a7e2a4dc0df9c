// Package fabricview is the fabric as the control plane uses it: the
// scheduling tree (the imported ibnetdiscover topology, or the configured
// fat tree) with the nodes' feature labels, and each node's HCA port GUIDs.
// Every server derives it the same way from the replicated state, and
// caches it by the content it was derived from.
package fabricview

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/scheduler/topotree"
)

// Reader is the part of the replicated state the view is derived from.
type Reader interface {
	Read(fn func(*fsm.State))
}

// Host is a configured node with its HCA port GUIDs.
type Host struct {
	topology.Host
	Ports []sm.GUID
}

// View derives the fabric from the state and the configured fat tree.
type View struct {
	state Reader
	fat   topology.FatTree
	tree  *scheduler.Tree // the configured fat tree as the scheduler sees it
	ports map[string][]sm.GUID
	log   *slog.Logger

	impMu    sync.Mutex
	imp      *Imported
	parses   uint64 // imports parsed so far, numbering Imported.gen
	labelled labelledTree
	workMemo workMemo // workmemo.go
}

// Imported is the parsed form of the state's imported topology. It is
// never modified once built: a new import builds a new one.
type Imported struct {
	// text and nameMap are what it was parsed from; comparing them is
	// cheap in the common case, where the state still holds the very same
	// strings (equal pointers), and gen numbers the parses.
	text, nameMap string
	gen           uint64
	Fab           *ibnet.Fabric
	Tree          *scheduler.Tree
	Ports         map[string][]sm.GUID
	// Switches are the node GUIDs of the switches Tree names.
	Switches map[string]uint64
}

// labelledTree caches the scheduling tree with feature labels.
type labelledTree struct {
	mu   sync.Mutex
	key  string
	real *realInputs // what tree was built from, when key is realKey
	tree *scheduler.Tree
}

// New builds the view over the configured fat tree and its hosts. On
// real machines there is neither (the zero FatTree, no hosts): nodes come
// from enrollment and their place from the imported topology
// (placement.go).
func New(state Reader, fat topology.FatTree, hosts []Host, log *slog.Logger) (*View, error) {
	tree := scheduler.TreeFromNodes(nil)
	if fat != (topology.FatTree{}) {
		var err error
		if tree, err = topotree.FromFatTree(fat); err != nil {
			return nil, err
		}
	}
	ports := make(map[string][]sm.GUID, len(hosts))
	for _, h := range hosts {
		ports[h.Name] = h.Ports
	}
	return &View{state: state, fat: fat, tree: tree, ports: ports, log: log}, nil
}

// FatTree is the configured fabric (used while nothing was imported).
func (v *View) FatTree() topology.FatTree { return v.fat }

// ParseTopology parses an ibnetdiscover dump with an optional name map.
func ParseTopology(text, nameMap string) (*ibnet.Fabric, error) {
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

// Imported returns the imported fabric, its scheduling tree and host port
// GUIDs, or nil when the cluster runs on its configured fat tree.
func (v *View) Imported() *Imported {
	var topo fsm.Topology
	v.state.Read(func(st *fsm.State) { topo = st.Topology })
	if topo.Text == "" {
		return nil
	}
	v.impMu.Lock()
	defer v.impMu.Unlock()
	if v.imp != nil && v.imp.text == topo.Text && v.imp.nameMap == topo.NameMap {
		return v.imp
	}
	fab, err := ParseTopology(topo.Text, topo.NameMap)
	if err != nil {
		v.log.Error("imported topology no longer parses", "err", err)
		return nil
	}
	tree, err := topotree.FromFabric(fab, nil)
	if err != nil {
		v.log.Error("imported topology", "err", err)
		return nil
	}
	ports := map[string][]sm.GUID{}
	for _, h := range fab.Hosts() {
		if g := hostPorts(h); len(g) > 0 {
			ports[h.Name] = g
		}
	}
	v.parses++
	v.imp = &Imported{text: topo.Text, nameMap: topo.NameMap, gen: v.parses, Fab: fab, Tree: tree, Ports: ports,
		Switches: topotree.SwitchGUIDs(fab)}
	return v.imp
}

// Tree is the tree placement uses: the imported fabric, or the configured
// fat tree, with the nodes' feature labels. A labelled tree is rebuilt only
// when the labels change. Real machines get theirs from realTree.
func (v *View) Tree(nodes []*model.Node) *scheduler.Tree {
	if hasRealNodes(nodes) {
		return v.realTree(nodes)
	}
	var b strings.Builder
	feats := map[string][]string{}
	for _, n := range nodes {
		if len(n.Features) > 0 {
			feats[n.Name] = treeFeatures(n)
			fmt.Fprintf(&b, "%s=%s;", n.Name, strings.Join(feats[n.Name], ","))
		}
	}
	imp := v.Imported()
	if len(feats) == 0 {
		if imp != nil {
			return imp.Tree
		}
		return v.tree
	}
	key := b.String()
	if imp != nil {
		key = fmt.Sprintf("%d|%s", imp.gen, key)
	}
	v.labelled.mu.Lock()
	defer v.labelled.mu.Unlock()
	if v.labelled.tree != nil && v.labelled.key == key {
		return v.labelled.tree
	}
	lookup := func(h string) []string { return feats[h] }
	var t *scheduler.Tree
	var err error
	if imp != nil {
		t, err = topotree.FromFabric(imp.Fab, lookup)
	} else {
		t, err = topotree.FromFatTreeFeatures(v.fat, lookup)
	}
	if err != nil {
		v.log.Error("labelled tree", "err", err)
		return v.tree
	}
	v.labelled.key, v.labelled.real, v.labelled.tree = key, nil, t
	return t
}

// treeFeatures are the node's labels as the scheduling tree carries them:
// a labelled infrastructure node also carries scheduler.InfraFeature, so
// it goes only to jobs that ask for its labels. (An unlabelled one is not
// schedulable at all: model.Node.Schedulable.)
func treeFeatures(n *model.Node) []string {
	if n.Infra == "" || len(n.Features) == 0 {
		return n.Features
	}
	return append(slices.Clone(n.Features), scheduler.InfraFeature)
}

// SwitchGUIDs returns the lookup of a switch's node GUID by the name
// the scheduling tree gives it, when the tree comes from an imported
// topology; nil on the configured fat tree, whose simulated fabrics
// name switches as the tree does (topology.FatTree.LeafName).
func (v *View) SwitchGUIDs() func(name string) (uint64, bool) {
	imp := v.Imported()
	if imp == nil {
		return nil
	}
	return func(name string) (uint64, bool) {
		g, ok := imp.Switches[name]
		return g, ok
	}
}

// PortsOf lists the HCA port GUIDs of nodes: for a real machine those
// its agent reported (none while it is refused); else from the imported
// fabric when it knows the node, else from the configured hosts.
func (v *View) PortsOf(nodes ...string) []sm.GUID {
	var imported map[string][]sm.GUID
	if imp := v.Imported(); imp != nil {
		imported = imp.Ports
	}
	var out []sm.GUID
	v.state.Read(func(st *fsm.State) {
		for _, n := range nodes {
			if g, ok := realNodePorts(st, n); ok {
				out = append(out, g...)
				continue
			}
			if g, ok := imported[n]; ok {
				out = append(out, g...)
				continue
			}
			out = append(out, v.ports[n]...)
		}
	})
	return out
}
