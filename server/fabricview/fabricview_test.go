package fabricview

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/replica"
)

func dump(t *testing.T, leaves, hosts int) string {
	t.Helper()
	var b bytes.Buffer
	cfg := ibnet.FatTreeConfig{Pods: 1, LeavesPerPod: leaves, SpinesPerPod: 2, HostsPerLeaf: hosts, SwitchPorts: 36}
	if err := ibnet.GenerateFatTree(&b, cfg); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func importText(t *testing.T, store *replica.Memory, text string) {
	t.Helper()
	fab, err := ParseTopology(text, "")
	if err != nil {
		t.Fatal(err)
	}
	cmd := &fsm.ImportTopology{Text: text, Time: store.Now()}
	for _, h := range fab.Hosts() {
		cmd.Hosts = append(cmd.Hosts, fsm.NodeSpec{Name: h.Name, Leaf: fab.HostLeaves(h.Name)[0].Name})
	}
	if _, err := store.Apply(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
}

// TestImportedIsCachedUntilTheTopologyChanges: repeated reads reuse one
// parse; a new import (and only that) gives a new fabric, and the labelled
// tree follows it.
func TestImportedIsCachedUntilTheTopologyChanges(t *testing.T) {
	store := replica.NewMemory()
	v, err := New(store, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if v.Imported() != nil {
		t.Fatal("an imported fabric before any import")
	}
	importText(t, store, dump(t, 2, 4))
	first := v.Imported()
	if first == nil || len(first.Fab.Hosts()) != 8 {
		t.Fatalf("first import: %+v", first)
	}
	if again := v.Imported(); again != first {
		t.Fatal("an unchanged topology was parsed again")
	}
	labelled := []*model.Node{{Name: first.Fab.Hosts()[0].Name, Features: []string{"gpu"}}}
	t1 := v.Tree(labelled)
	if v.Tree(labelled) != t1 {
		t.Fatal("unchanged labels rebuilt the labelled tree")
	}

	importText(t, store, dump(t, 3, 4))
	second := v.Imported()
	if second == first || len(second.Fab.Hosts()) != 12 {
		t.Fatalf("after a new import: same parse %v, %d hosts", second == first, len(second.Fab.Hosts()))
	}
	if v.Tree(labelled) == t1 {
		t.Fatal("the labelled tree still describes the old fabric")
	}
	if got := v.PortsOf(second.Fab.Hosts()[11].Name); len(got) != 1 {
		t.Fatalf("ports of the new fabric's last host: %v", got)
	}
}

// BenchmarkPortsOf is the partition loop's per-node lookup on a 4,096-host
// imported fabric (a dump of about 2 MB).
func BenchmarkPortsOf(b *testing.B) {
	store := replica.NewMemory()
	v, err := New(store, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ibnet.GenerateFatTree(&buf, ibnet.FatTreeConfig{Pods: 1, LeavesPerPod: 128, SpinesPerPod: 4, HostsPerLeaf: 32, SwitchPorts: 160}); err != nil {
		b.Fatal(err)
	}
	fab, err := ParseTopology(buf.String(), "")
	if err != nil {
		b.Fatal(err)
	}
	cmd := &fsm.ImportTopology{Text: buf.String(), Time: store.Now()}
	for _, h := range fab.Hosts() {
		cmd.Hosts = append(cmd.Hosts, fsm.NodeSpec{Name: h.Name, Leaf: fab.HostLeaves(h.Name)[0].Name})
	}
	if _, err := store.Apply(b.Context(), cmd); err != nil {
		b.Fatal(err)
	}
	host := fab.Hosts()[0].Name
	v.PortsOf(host) // parse once
	for b.Loop() {
		v.PortsOf(host)
	}
	b.ReportMetric(float64(buf.Len()), "dump_bytes")
}
