package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

// TestRoutesOnAHundredLeaves: a generated fat tree of 100 leaves names
// its leaves leaf001..leaf100 in the scheduler's tree; the simulated
// fabric of the same shape (what --dev's and --fabric ibsim's subnet
// managers see) must name them alike, or the routing loop cannot find
// the job's cables and asks for a re-import. (Before the naming was
// shared, ibsim called them leaf01..leaf100.)
func TestRoutesOnAHundredLeaves(t *testing.T) {
	fat := topology.FatTree{Spines: 2, Leaves: 100, NodesPerLeaf: 2}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	routed := simRouted(t, fat, h.sm)
	r := newRoutes(h.loops.cfg, routed)
	ctx := context.Background()
	// Only node002 (leaf001) and node004 (leaf002) stay free besides the
	// two isolatedAcrossLeaves drains.
	for i := 5; i <= fat.Leaves*fat.NodesPerLeaf; i++ {
		h.apply(&fsm.DrainNode{Node: fmt.Sprintf("node%03d", i), Reason: "test", Time: h.store.Now()})
	}
	j := isolatedAcrossLeaves(t, h)
	if !slices.Equal(j.Links, []string{"leaf001>spine01", "leaf002>spine01"}) {
		t.Fatalf("allocation changed: %v on %v", j.Links, j.Nodes)
	}
	st := r.reconcile(ctx)
	if st.Err != "" || !st.Loaded || len(st.Violations) > 0 || len(st.Conflicts) > 0 {
		t.Fatalf("status %+v", st)
	}
	f, _ := routed.RouteFabric(ctx)
	tb, _ := routed.ObserveRoutes(ctx)
	if s := upTo(t, h, f, tb, "leaf001", "node004"); s != "spine01" {
		t.Errorf("job traffic to node004 goes up to %s", s)
	}
	if s := upTo(t, h, f, tb, "leaf002", "node001"); s != "spine02" {
		t.Errorf("traffic to node001 from leaf002 goes up to %s, over the job's cable", s)
	}
	if s := upTo(t, h, f, tb, "leaf100", "node003"); s != "spine02" {
		t.Errorf("traffic to node003 from leaf100 goes up to %s, over the job's cable", s)
	}
}

// TestRoutesFindImportedSwitchesByGUID: the scheduler's tree comes from
// an imported dump whose name map renames the switches (rackA-top, ...),
// while the subnet manager's own ibnetdiscover knows them by their node
// descriptions (leaf01, ...): the job's cables are found by GUID.
func TestRoutesFindImportedSwitchesByGUID(t *testing.T) {
	fat := topology.FatTree{Spines: 2, Leaves: 2, NodesPerLeaf: 2}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	routed := simRouted(t, fat, h.sm)
	top := ibsim.Topology{Spines: 2, Leaves: 2, HostsPerLeaf: 2}
	text := string(top.NetFile())
	var nameMap strings.Builder
	for l := 1; l <= 2; l++ {
		fmt.Fprintf(&nameMap, "0x%016x rack%c-top\n", ibsim.LeafGUID(l), 'A'+l-1)
	}
	for s := 1; s <= 2; s++ {
		fmt.Fprintf(&nameMap, "0x%016x core-%d\n", ibsim.SpineGUID(s), s)
	}
	fab, err := fabricview.ParseTopology(text, nameMap.String())
	if err != nil {
		t.Fatal(err)
	}
	cmd := &fsm.ImportTopology{Text: text, NameMap: nameMap.String(), Time: h.store.Now()}
	for _, host := range fab.Hosts() {
		if host.Name == "sm01" {
			continue
		}
		cmd.Hosts = append(cmd.Hosts, fsm.NodeSpec{Name: host.Name, Leaf: fab.HostLeaves(host.Name)[0].Name})
	}
	h.apply(cmd)
	r := newRoutes(h.loops.cfg, routed)
	j := isolatedAcrossLeaves(t, h)
	if !slices.Equal(j.Links, []string{"rackA-top>core-1", "rackB-top>core-1"}) {
		t.Fatalf("allocation on the imported names: %v on %v", j.Links, j.Nodes)
	}
	ctx := context.Background()
	st := r.reconcile(ctx)
	if st.Err != "" || !st.Loaded || len(st.Violations) > 0 || len(st.Conflicts) > 0 {
		t.Fatalf("status %+v", st)
	}
	f, _ := routed.RouteFabric(ctx)
	tb, _ := routed.ObserveRoutes(ctx)
	if s := upTo(t, h, f, tb, "leaf01", "node004"); s != "spine01" {
		t.Errorf("job traffic to node004 goes up to %s", s)
	}
	if s := upTo(t, h, f, tb, "leaf02", "node001"); s != "spine02" {
		t.Errorf("traffic to node001 from leaf02 goes up to %s, over the job's cable", s)
	}
}

// TestRoutesOnAHundredLeavesWithRealOpenSM is TestRoutesOnAHundredLeaves
// against OpenSM's file routing engine on an ibsim fabric of 100 leaves:
// the names the scheduler gives the cables are found in OpenSM's
// ibnetdiscover, and the tables read back from the switches isolate.
func TestRoutesOnAHundredLeavesWithRealOpenSM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OpenSM")
	}
	fat := topology.FatTree{Spines: 2, Leaves: 100, NodesPerLeaf: 2}
	var reads atomic.Int64 // dump_fts runs: every switch's table read
	initial, err := opensm.Render(nil, sm.TenantIsolation)
	if err != nil {
		t.Fatal(err)
	}
	fab := ibsim.StartForTest(t, ibsim.Config{Topology: ibsim.Topology{Spines: fat.Spines, Leaves: fat.Leaves, HostsPerLeaf: fat.NodesPerLeaf},
		Partitions: initial, FileRouting: true})
	d, err := opensm.New(opensm.Config{PartitionsFile: fab.PartitionsFile, Rules: sm.TenantIsolation,
		Reload: func(context.Context) error { return fab.ReloadSM() }, Reader: opensm.ReaderFunc(fab.Tables), Logf: t.Logf,
		VerifyTimeout: 2 * time.Minute,
		Routes: &opensm.RoutesConfig{LFTsFile: fab.LFTsFile,
			ReadLFTs: func(ctx context.Context) ([]byte, error) { reads.Add(1); return fab.Run(ctx, "dump_fts") },
			Discover: func(ctx context.Context) ([]byte, error) { return fab.Run(ctx, "ibnetdiscover") }}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	r := newRoutes(h.loops.cfg, d)
	for i := 5; i <= fat.Leaves*fat.NodesPerLeaf; i++ {
		h.apply(&fsm.DrainNode{Node: fmt.Sprintf("node%03d", i), Reason: "test", Time: h.store.Now()})
	}
	j := isolatedAcrossLeaves(t, h)
	if !slices.Equal(j.Links, []string{"leaf001>spine01", "leaf002>spine01"}) {
		t.Fatalf("allocation changed: %v on %v", j.Links, j.Nodes)
	}
	ctx := context.Background()
	start := time.Now()
	st := r.reconcile(ctx)
	if st.Err != "" || !st.Loaded || len(st.Violations) > 0 || len(st.Conflicts) > 0 {
		t.Fatalf("status %+v", st)
	}
	t.Logf("100 leaves, %d hosts: tables computed, loaded, read back and checked in %v (%d reads)", fat.Leaves*fat.NodesPerLeaf, time.Since(start).Round(time.Millisecond), reads.Load())
	// The drift pass with nothing changed reads the switches once: the
	// tables OpenSM's driver read to confirm them are the ones checked.
	r.mu.Lock()
	r.tried = time.Time{}
	r.mu.Unlock()
	reads.Store(0)
	start = time.Now()
	if st := r.reconcile(ctx); st.Err != "" || !st.Loaded || len(st.Violations) > 0 {
		t.Fatalf("drift pass: %+v", st)
	}
	t.Logf("drift pass: %v", time.Since(start).Round(time.Millisecond))
	if n := reads.Load(); n != 1 {
		t.Errorf("a drift pass read every switch's table %d times, want once", n)
	}
	f, err := d.RouteFabric(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	tb, err := d.ObserveRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one read of every switch's table (what a pass no longer does twice): %v", time.Since(start).Round(time.Millisecond))
	if s := upTo(t, h, f, tb, "leaf001", "node004"); s != "spine01" {
		t.Errorf("job traffic to node004 goes up to %s", s)
	}
	if s := upTo(t, h, f, tb, "leaf100", "node003"); s != "spine02" {
		t.Errorf("traffic to node003 from leaf100 goes up to %s, over the job's cable", s)
	}
}
