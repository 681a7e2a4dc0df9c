package fabricview

import (
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/replica"
)

// TestRealMachines: on the two-leaf ibtopotool sample, real nodes placed by
// their GUIDs sit under their hosts' leaves in the scheduling tree, an
// unplaced node is a leaf of its own, a refused node is not in the tree,
// and PortsOf gives exactly the GUIDs each agent reported.
func TestRealMachines(t *testing.T) {
	text, err := os.ReadFile("../../testdata/ib-topology/ibtopotool-doc-samples/1.topo")
	if err != nil {
		t.Fatal(err)
	}
	fab, err := ParseTopology(string(text), "")
	if err != nil {
		t.Fatal(err)
	}
	store := replica.NewMemory()
	v, err := New(store, topology.FatTree{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	nodes := func() []*model.Node {
		var out []*model.Node
		store.Read(func(st *fsm.State) { out = st.SortedNodes() })
		return out
	}
	if tr := v.Tree(nodes()); tr.NumHosts() != 0 {
		t.Fatalf("a real-machine cluster with no nodes has %d hosts", tr.NumHosts())
	}
	now := store.Now()
	apply := func(cmd fsm.Command) {
		t.Helper()
		if _, err := store.Apply(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	apply(&fsm.ImportTopology{Text: string(text), Places: HostPlaces(fab), Time: now})
	enroll := func(name string, ports ...uint64) {
		apply(&fsm.CreateJoinToken{Node: name, Hash: "h-" + name, Expires: now.Add(time.Hour), Register: true})
		apply(&fsm.Enroll{Node: name, TokenHash: "h-" + name, CertSerial: name, Time: now})
		apply(&fsm.NodeInventory{Node: name, Inventory: "{}", Ports: ports, Time: now})
	}
	enroll("alpha", 0x8f10403960559, 0x8f1040396055a) // the dual-port host
	enroll("beta", 0x8f10403960985)
	enroll("lost", 0x0002c90300000099)
	enroll("thief", 0x8f10403960985)

	tr := v.Tree(nodes())
	hosts := tr.Hosts()
	slices.Sort(hosts)
	if !slices.Equal(hosts, []string{"alpha", "beta", "lost"}) {
		t.Fatalf("tree hosts %v", hosts)
	}
	leaf := func(n string) string { l, _ := tr.Leaf(n); return tr.LeafName(l) }
	if leaf("alpha") != "S-005442ba00003080" || leaf("beta") != "S-0008f10400410015" || leaf("lost") != "unplaced:lost" {
		t.Fatalf("leaves: alpha %s, beta %s, lost %s", leaf("alpha"), leaf("beta"), leaf("lost"))
	}
	if tr2 := v.Tree(nodes()); tr2 != tr {
		t.Fatal("an unchanged cluster rebuilt the tree")
	}
	for _, tc := range []struct {
		node string
		want []sm.GUID
	}{
		{"alpha", []sm.GUID{0x8f10403960559, 0x8f1040396055a}},
		{"beta", []sm.GUID{0x8f10403960985}},
		{"lost", []sm.GUID{0x0002c90300000099}},
		{"thief", nil},
	} {
		if got := v.PortsOf(tc.node); !slices.Equal(got, tc.want) {
			t.Errorf("PortsOf(%s) = %v, want %v", tc.node, got, tc.want)
		}
	}
	// A label changes the tree; the labelled node keeps its place.
	apply(&fsm.LabelNode{Node: "beta", Features: []string{"gpu"}})
	tr3 := v.Tree(nodes())
	if tr3 == tr || !slices.Equal(tr3.Features("beta"), []string{"gpu"}) {
		t.Fatalf("after labelling: same tree %v, beta's features %v", tr3 == tr, tr3.Features("beta"))
	}
}
