package fsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/placement"
	"github.com/ibex-hpc/ibex/model"
)

// realFSM has no nodes: they come from enrollment.
func realFSM(t *testing.T) *FSM {
	t.Helper()
	f := New()
	must(t, f.Apply(&CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}}))
	return f
}

func enrollReal(t *testing.T, f *FSM, node string, ports ...uint64) {
	t.Helper()
	must(t, f.Apply(&CreateJoinToken{Node: node, Hash: "tok-" + node, Expires: t0.Add(time.Hour), Register: true}))
	must(t, f.Apply(&Enroll{Node: node, TokenHash: "tok-" + node, CertSerial: "serial-" + node, Time: t0}))
	must(t, f.Apply(&NodeInventory{Node: node, Inventory: "{}", Ports: ports, Time: t0}))
}

// twoLeaves: hostA (two ports) and hostB on leafX, hostC on leafY.
var twoLeaves = []placement.Host{
	{Name: "hostA", Leaf: "leafX", Ports: []uint64{0xa1, 0xa2}},
	{Name: "hostB", Leaf: "leafX", Ports: []uint64{0xb1}},
	{Name: "hostC", Leaf: "leafY", Ports: []uint64{0xc1}},
}

func importPlaces(t *testing.T, f *FSM, hosts []placement.Host) {
	t.Helper()
	must(t, f.Apply(&ImportTopology{Text: "dump", Places: hosts, Time: t0}))
}

func node(f *FSM, name string) *model.Node { return f.View().Nodes[name] }

// TestJoinTokenRegistersARealNode: a token for an unknown name is refused
// unless it registers; the enrollment that uses it creates the node, which
// must be cleaned before use and is unplaced until its agent reports.
func TestJoinTokenRegistersARealNode(t *testing.T) {
	f := realFSM(t)
	if r := f.Apply(&CreateJoinToken{Node: "gpu01", Hash: "h0", Expires: t0.Add(time.Hour)}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("token for an unknown node without Register: %v", r.Err)
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", strings.Repeat("a", 64)} {
		if r := f.Apply(&CreateJoinToken{Node: bad, Hash: "h1", Expires: t0.Add(time.Hour), Register: true}); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("node name %q accepted: %v", bad, r.Err)
		}
	}
	must(t, f.Apply(&CreateJoinToken{Node: "gpu01", Hash: "h", Expires: t0.Add(time.Hour), Register: true}))
	if node(f, "gpu01") != nil {
		t.Fatal("the token alone created the node; only an enrolled agent should")
	}
	must(t, f.Apply(&Enroll{Node: "gpu01", TokenHash: "h", CertSerial: "1", Time: t0}))
	n := node(f, "gpu01")
	if n == nil || n.State != model.NodeCleaning || n.Agent == nil || n.Placement == nil || n.Leaf != "" {
		t.Fatalf("enrolled node: %+v", n)
	}
	if !strings.Contains(n.Placement.Note, "no hardware report") {
		t.Fatalf("note before the hello: %q", n.Placement.Note)
	}
}

// TestPlacementByPortGUIDs walks the rule through the state machine: placed
// by its GUIDs, unplaced with the reason, refused (and drained) for another
// node's GUIDs or host; the ledger records each outcome once.
func TestPlacementByPortGUIDs(t *testing.T) {
	f := realFSM(t)
	importPlaces(t, f, twoLeaves)
	enrollReal(t, f, "n1", 0xa1, 0xa2)
	enrollReal(t, f, "n2", 0xc1)
	enrollReal(t, f, "n3", 0xf0)
	enrollReal(t, f, "thief", 0xc1)
	enrollReal(t, f, "twin", 0xa2) // one of n1's ports

	if n := node(f, "n1"); n.Leaf != "leafX" || n.Placement.Host != "hostA" || n.Placement.Note != "" || n.Drained {
		t.Fatalf("n1: leaf %q %+v", n.Leaf, n.Placement)
	}
	if n := node(f, "n2"); n.Leaf != "leafY" || n.Placement.Host != "hostC" {
		t.Fatalf("n2: leaf %q %+v", n.Leaf, n.Placement)
	}
	n3 := node(f, "n3")
	if n3.Leaf != "" || n3.Placement.Host != "" || n3.Placement.Refused || n3.Drained ||
		n3.Placement.Note != "unplaced: port GUID 0x00000000000000f0 not in the imported topology" {
		t.Fatalf("n3: leaf %q drained %v %+v", n3.Leaf, n3.Drained, n3.Placement)
	}
	thief := node(f, "thief")
	if !thief.Placement.Refused || !thief.Drained || thief.DrainNote != "refused: port GUID 0x00000000000000c1 is already node n2's" {
		t.Fatalf("thief: drained %v %q %+v", thief.Drained, thief.DrainNote, thief.Placement)
	}
	if twin := node(f, "twin"); !twin.Drained || twin.DrainNote != "refused: port GUID 0x00000000000000a2 is already node n1's" {
		t.Fatalf("twin: drained %v %q", twin.Drained, twin.DrainNote)
	}
	// n1 now reports one port (the other HCA port was disabled); the
	// other port, reported by another machine, is still on n1's host.
	must(t, f.Apply(&NodeInventory{Node: "n1", Inventory: "{}", Ports: []uint64{0xa1}, Time: t0}))
	must(t, f.Apply(&NodeInventory{Node: "twin", Inventory: "{}", Ports: []uint64{0xa2}, Time: t0}))
	if twin := node(f, "twin"); !twin.Drained || twin.DrainNote != "refused: host hostA of the imported topology is already node n1's" {
		t.Fatalf("twin: drained %v %q", twin.Drained, twin.DrainNote)
	}
	if r := f.Apply(&UndrainNode{Node: "thief", Time: t0}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "already node n2's") {
		t.Fatalf("undrain of a refused node: %v", r.Err)
	}
	// The same hello again (a reconnect) changes nothing and logs nothing.
	before := len(f.View().Ledger["n1"])
	must(t, f.Apply(&NodeInventory{Node: "n1", Inventory: "{}", Ports: []uint64{0xa1, 0xa2}, Time: t0}))
	if after := len(f.View().Ledger["n1"]); after != before {
		t.Fatalf("a repeated report added %d ledger entries", after-before)
	}
	// The thief's machine is fixed: its next report holds no one's GUID.
	must(t, f.Apply(&NodeInventory{Node: "thief", Inventory: "{}", Ports: []uint64{0xb1}, Time: t0}))
	if th := node(f, "thief"); th.Drained || th.Placement.Refused || th.Placement.Host != "hostB" || th.Leaf != "leafX" {
		t.Fatalf("fixed thief: drained %v %+v", th.Drained, th.Placement)
	}
	var steps []string
	for _, e := range f.View().Ledger["thief"] {
		steps = append(steps, e.Step+":"+map[bool]string{true: "ok", false: "refused"}[e.OK])
	}
	if got := strings.Join(steps, ","); got != "enroll:ok,place:refused,place:ok" {
		t.Fatalf("thief's ledger: %s", got)
	}
	// An unreadable report refuses the node and frees the ports it held.
	must(t, f.Apply(&NodeInventory{Node: "n2", Inventory: "{}", PortsError: `port GUID "zz": want 0x<hex>`, Time: t0}))
	if n := node(f, "n2"); !n.Drained || !strings.Contains(n.DrainNote, `cannot be read: port GUID "zz"`) || len(n.Placement.Ports) != 0 {
		t.Fatalf("n2 after a bad report: drained %v %q %+v", n.Drained, n.DrainNote, n.Placement)
	}
	enrollReal(t, f, "n4", 0xc1)
	if n := node(f, "n4"); n.Drained || n.Placement.Host != "hostC" {
		t.Fatalf("n4 on n2's freed port: drained %v %+v", n.Drained, n.Placement)
	}
}

// TestOperatorDrainIsKept: a refusal does not overwrite an operator's drain
// note, and clearing the refusal does not undrain what the operator
// drained.
func TestOperatorDrainIsKept(t *testing.T) {
	f := realFSM(t)
	importPlaces(t, f, twoLeaves)
	enrollReal(t, f, "n1", 0xa1)
	enrollReal(t, f, "n2", 0xb1)
	must(t, f.Apply(&DrainNode{Node: "n2", Reason: "bad DIMM", By: "admin", Time: t0}))
	must(t, f.Apply(&NodeInventory{Node: "n2", Inventory: "{}", Ports: []uint64{0xa1}, Time: t0}))
	if n := node(f, "n2"); !n.Placement.Refused || n.DrainNote != "bad DIMM" {
		t.Fatalf("n2: %q %+v", n.DrainNote, n.Placement)
	}
	must(t, f.Apply(&NodeInventory{Node: "n2", Inventory: "{}", Ports: []uint64{0xb1}, Time: t0}))
	if n := node(f, "n2"); n.Placement.Refused || !n.Drained || n.DrainNote != "bad DIMM" {
		t.Fatalf("n2: drained %v %q %+v", n.Drained, n.DrainNote, n.Placement)
	}
}

// TestImportPlacesEnrolledNodes: nodes that enrolled before any topology
// are unplaced, and an import places them (those holding their ports
// first, then in name order); a re-import that moves a host re-places
// them; simulated nodes are untouched and real-machine imports register
// no nodes.
func TestImportPlacesEnrolledNodes(t *testing.T) {
	f := realFSM(t)
	enrollReal(t, f, "n1", 0xa1, 0xa2)
	enrollReal(t, f, "n2", 0xc1)
	if n := node(f, "n1"); !strings.Contains(n.Placement.Note, "no fabric topology imported") {
		t.Fatalf("n1 before the import: %+v", n.Placement)
	}
	importPlaces(t, f, twoLeaves)
	if len(f.View().Nodes) != 2 {
		t.Fatalf("the import registered the dump's hosts as nodes: %d nodes", len(f.View().Nodes))
	}
	if a, b := node(f, "n1"), node(f, "n2"); a.Leaf != "leafX" || b.Leaf != "leafY" {
		t.Fatalf("after the import: n1 on %q, n2 on %q", a.Leaf, b.Leaf)
	}
	// The new dump says hostA's ports and hostC's are one host: n1 (first
	// by name) keeps it, n2 is refused.
	merged := []placement.Host{{Name: "big", Leaf: "leafZ", Ports: []uint64{0xa1, 0xa2, 0xc1}}}
	importPlaces(t, f, merged)
	if a, b := node(f, "n1"), node(f, "n2"); a.Leaf != "leafZ" || !b.Placement.Refused || !b.Drained {
		t.Fatalf("after the merge: n1 %q %+v, n2 %+v", a.Leaf, a.Placement, b.Placement)
	}
	// Back to two hosts: n2 is placed again and undrained.
	importPlaces(t, f, twoLeaves)
	if b := node(f, "n2"); b.Placement.Refused || b.Drained || b.Leaf != "leafY" {
		t.Fatalf("after the split: n2 drained %v %+v", b.Drained, b.Placement)
	}
	// The placement survives a snapshot (and the lazily built index works
	// after a restore).
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, f.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if f.View().Hash() != g.View().Hash() {
		t.Fatal("restored state differs")
	}
	must(t, g.Apply(&CreateJoinToken{Node: "n3", Hash: "h3", Expires: t0.Add(time.Hour), Register: true}))
	must(t, g.Apply(&Enroll{Node: "n3", TokenHash: "h3", CertSerial: "3", Time: t0}))
	must(t, g.Apply(&NodeInventory{Node: "n3", Inventory: "{}", Ports: []uint64{0xb1}, Time: t0}))
	if n := g.View().Nodes["n3"]; n.Placement.Host != "hostB" {
		t.Fatalf("n3 after a restore: %+v", n.Placement)
	}

	sim := harness(t, 2)
	must(t, sim.Apply(&NodeInventory{Node: "node001", Inventory: "{}", Ports: []uint64{0xa1}, Time: t0}))
	if n := sim.View().Nodes["node001"]; n.Placement != nil || n.Leaf != "leaf01" {
		t.Fatalf("a simulated node was placed by its report: %q %+v", n.Leaf, n.Placement)
	}
}

// TestTopologyWithoutGUIDs: a dump imported before GUIDs were recorded
// leaves real nodes unplaced with a note that says what to do.
func TestTopologyWithoutGUIDs(t *testing.T) {
	f := realFSM(t)
	must(t, f.Apply(&ImportTopology{Text: "dump", Hosts: []NodeSpec{{Name: "hostA", Leaf: "leafX"}}, Time: t0}))
	enrollReal(t, f, "n1", 0xa1)
	if n := node(f, "n1"); !strings.Contains(n.Placement.Note, "run ibex fabric import again") {
		t.Fatalf("n1: %+v", n.Placement)
	}
}

// TestNodeNamesHaveOneGrammar: a name that could climb out of a directory
// on a node, from a simulated fabric or an imported dump's name map, is
// refused and nothing is registered.
func TestNodeNamesHaveOneGrammar(t *testing.T) {
	for _, bad := range []string{"../../../../tmp/x", "a/b", "", ".hidden", "-x", "node\x00", strings.Repeat("n", 64), "名前"} {
		f := New()
		res := f.Apply(&RegisterNodes{Nodes: []NodeSpec{{Name: "node001"}, {Name: bad}}})
		if !errors.Is(res.Err, ErrInvalid) {
			t.Errorf("RegisterNodes with %q: %v", bad, res.Err)
		}
		res = f.Apply(&ImportTopology{Text: "x", Hosts: []NodeSpec{{Name: bad, Leaf: "leaf1"}}})
		if !errors.Is(res.Err, ErrInvalid) {
			t.Errorf("ImportTopology with %q: %v", bad, res.Err)
		}
		if n := len(f.View().Nodes); n != 0 {
			t.Fatalf("%q: %d nodes registered by refused commands", bad, n)
		}
	}
}
