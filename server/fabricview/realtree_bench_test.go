package fabricview

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/replica"
)

// realCluster imports a generated three-level fabric and returns a view of it with one enrolled machine per host,
// placed on it, in name order as fsm.Work gives them (every 7th labelled).
func realCluster(tb testing.TB, cfg ibnet.FatTreeConfig) (*View, []*model.Node) {
	tb.Helper()
	var b bytes.Buffer
	if err := ibnet.GenerateFatTree(&b, cfg); err != nil {
		tb.Fatal(err)
	}
	text := b.String()
	fab, err := ParseTopology(text, "")
	if err != nil {
		tb.Fatal(err)
	}
	store := replica.NewMemory()
	if _, err := store.Apply(context.Background(), &fsm.ImportTopology{Text: text, Places: HostPlaces(fab), Time: store.Now()}); err != nil {
		tb.Fatal(err)
	}
	v, err := New(store, topology.FatTree{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	var nodes []*model.Node
	for i, h := range fab.Hosts() {
		n := &model.Node{Name: "m-" + h.Name, Placement: &model.Placement{Host: h.Name, Ports: []uint64{uint64(i + 1)}}}
		if i%7 == 0 {
			n.Features = []string{"gpu", fmt.Sprintf("rack%d", i/100)}
		}
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b *model.Node) int { return strings.Compare(a.Name, b.Name) })
	return v, nodes
}

// BenchmarkRealTreeUnchanged is the scheduling tree of real machines on
// a pass where nothing the tree depends on changed: the leader asks for it
// every scheduling pass and every job listing.
func BenchmarkRealTreeUnchanged(b *testing.B) {
	// About 10,000 hosts.
	v, nodes := realCluster(b, ibnet.FatTreeConfig{Pods: 18, LeavesPerPod: 32, SpinesPerPod: 18, Cores: 36, HostsPerLeaf: 18, SwitchPorts: 36})
	first := v.Tree(nodes)
	if first.NumHosts() != len(nodes) {
		b.Fatalf("%d hosts in the tree, want %d", first.NumHosts(), len(nodes))
	}
	// A new copy of the same nodes, as Work gives after any node change
	// the tree does not depend on.
	same := make([]*model.Node, len(nodes))
	for i, n := range nodes {
		c := *n
		p := *n.Placement
		c.Placement = &p
		same[i] = &c
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in := nodes
		if i%2 == 1 {
			in = same
		}
		if v.Tree(in) != first {
			b.Fatal("tree rebuilt")
		}
	}
}

// TestRealTreeFollowsEveryInput: the cached real-machine tree is reused
// for a new copy of the same nodes and for the same nodes out of order,
// and rebuilt when any input changes: a node's placement host, refusal,
// labels, infrastructure mark, name, or a node more or fewer.
func TestRealTreeFollowsEveryInput(t *testing.T) {
	v, base := realCluster(t, ibnet.FatTreeConfig{Pods: 2, LeavesPerPod: 4, SpinesPerPod: 2, Cores: 2, HostsPerLeaf: 4, SwitchPorts: 36})
	first := v.Tree(base)
	copyOf := func() []*model.Node {
		out := make([]*model.Node, len(base))
		for i, n := range base {
			c := *n
			p := *n.Placement
			c.Placement = &p
			c.Features = slices.Clone(n.Features)
			out[i] = &c
		}
		return out
	}
	if v.Tree(copyOf()) != first {
		t.Fatal("an equal copy of the nodes rebuilt the tree")
	}
	rev := copyOf()
	slices.Reverse(rev)
	if v.Tree(rev) != first {
		t.Fatal("the same nodes in another order rebuilt the tree")
	}
	for _, tc := range []struct {
		name   string
		change func([]*model.Node) []*model.Node
	}{
		{"host", func(ns []*model.Node) []*model.Node { ns[3].Placement.Host = ns[4].Placement.Host + "x"; return ns }},
		{"refused", func(ns []*model.Node) []*model.Node { ns[5].Placement.Refused = true; return ns }},
		{"labels", func(ns []*model.Node) []*model.Node { ns[6].Features = []string{"fast"}; return ns }},
		{"infra", func(ns []*model.Node) []*model.Node { ns[0].Infra = "login"; return ns }},
		{"name", func(ns []*model.Node) []*model.Node { ns[len(ns)-1].Name += "z"; return ns }},
		{"fewer", func(ns []*model.Node) []*model.Node { return ns[1:] }},
		{"more", func(ns []*model.Node) []*model.Node {
			return append(ns, &model.Node{Name: "zz-new", Placement: &model.Placement{}})
		}},
	} {
		// Back to the base tree's inputs, then the change.
		v.Tree(copyOf())
		changed := tc.change(copyOf())
		got := v.Tree(changed)
		if got == first {
			t.Errorf("%s: the cached tree was reused", tc.name)
		}
		// The rebuilt tree is the one built afresh from those nodes.
		fresh, _ := New(v.state, topology.FatTree{}, nil, v.log)
		want := fresh.Tree(changed)
		gh, wh := got.Hosts(), want.Hosts()
		slices.Sort(gh)
		slices.Sort(wh)
		if !slices.Equal(gh, wh) {
			t.Errorf("%s: %d hosts, a fresh view has %d", tc.name, len(gh), len(wh))
		}
	}
}
