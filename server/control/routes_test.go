package control

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/scheduler"
)

// isolatedAcrossLeaves commits a 2-node link-isolated job that must cross
// the spines (node001 and node003 drained: one free node per leaf), runs
// a scheduling pass and returns the job as allocated.
func isolatedAcrossLeaves(t *testing.T, h *harness) model.Job {
	t.Helper()
	h.apply(&fsm.DrainNode{Node: "node001", Reason: "test", Time: h.store.Now()})
	h.apply(&fsm.DrainNode{Node: "node003", Reason: "test", Time: h.store.Now()})
	id := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 2, TimeLimit: time.Hour, Argv: []string{"true"},
		Isolation: scheduler.IsolationLinks}, Time: h.store.Now()}).(uint64)
	h.pass()
	j := h.job(id)
	if len(j.Links) == 0 {
		t.Fatalf("isolated job %d on %v holds no links (%s %s)", id, j.Nodes, j.State, j.Reason)
	}
	return j
}

func simRouted(t *testing.T, fat topology.FatTree, s *simsm.SM) *simsm.Routed {
	t.Helper()
	nf, err := ibnet.Parse(bytes.NewReader(ibsim.Topology{Spines: fat.Spines, Leaves: fat.Leaves, HostsPerLeaf: fat.NodesPerLeaf}.NetFile()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := route.FromIBNet(nf)
	if err != nil {
		t.Fatal(err)
	}
	f.AssignLIDs()
	r, err := simsm.NewRouted(s, f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// upTo is the spine a route from leaf to node's port goes up to.
func upTo(t *testing.T, h *harness, f *route.Fabric, tb route.Tables, leaf, node string) string {
	t.Helper()
	var from *route.Switch
	for _, s := range f.Switches {
		if s.Name == leaf {
			from = s
		}
	}
	e := f.End(uint64(h.loops.cfg.Fabric.PortsOf(node)[0]))
	p := route.Trace(f, tb, from, e)
	if p.Err != "" || len(p.Cables) == 0 {
		t.Fatalf("%s -> %s: %+v", leaf, node, p)
	}
	c := p.Cables[0]
	return f.Switch(c.Switch).Ports[c.Port].Switch.Name
}

// TestRoutesEnforceIsolation: the scheduler allocates an isolated job's
// cables, the routing loop loads tables that keep the job on them and
// everyone else off them, checks what the (simulated) switches hold, and
// hands routing back when the job ends.
func TestRoutesEnforceIsolation(t *testing.T) {
	fat := topology.FatTree{Spines: 2, Leaves: 2, NodesPerLeaf: 2}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	routed := simRouted(t, fat, h.sm)
	r := newRoutes(h.loops.cfg, routed)
	ctx := context.Background()

	// A new leader hands routing to the SM once (a previous leader's
	// tables may be loaded), then leaves it alone while no job holds
	// cables.
	for i := 0; i < 2; i++ {
		if st := r.reconcile(ctx); st.Loaded || st.Err != "" {
			t.Fatalf("no isolated job yet, status %+v", st)
		}
	}
	if n, own := routed.Loads(); n != 1 || !own {
		t.Fatalf("without isolated jobs: %d loads (want 1, handing back), own routing %v", n, own)
	}
	j := isolatedAcrossLeaves(t, h)
	if !slices.Equal(j.Links, []string{"leaf01>spine01", "leaf02>spine01"}) || !slices.Equal(j.Nodes, []string{"node002", "node004"}) {
		t.Fatalf("allocation changed: %v on %v", j.Links, j.Nodes)
	}
	st := r.reconcile(ctx)
	if st.Err != "" || !st.Loaded || len(st.Violations) > 0 || len(st.Conflicts) > 0 || !slices.Equal(st.Jobs, []uint64{j.ID}) {
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
	if s := upTo(t, h, f, tb, "leaf01", "node003"); s != "spine02" {
		t.Errorf("traffic to node003 from leaf01 goes up to %s, over the job's cable", s)
	}
	if rep := r.Report(); !rep.Loaded || len(rep.Jobs) != 1 || rep.Time == nil {
		t.Errorf("report %+v", rep)
	}

	h.cancel(j.ID)
	for i := 0; i < 3 && len(isolatedJobs(h.store.Work(0))) > 0; i++ {
		h.pass()
	}
	if len(isolatedJobs(h.store.Work(0))) > 0 {
		t.Fatal("cancelled job still holds its cables")
	}
	if st := r.reconcile(ctx); st.Loaded || st.Err != "" {
		t.Fatalf("after the job: %+v", st)
	}
	if _, own := routed.Loads(); !own {
		t.Error("routing not handed back to the SM")
	}
}

// skipIsolation is a subnet manager that loads tables computed without
// the isolated jobs whatever it is given (rule b skipped): what the loop
// reads back must show it.
type skipIsolation struct{ *simsm.Routed }

func (s skipIsolation) ApplyRoutes(ctx context.Context, f *route.Fabric, t route.Tables) (route.Tables, error) {
	plain, _, err := route.Compute(f, nil)
	if err != nil {
		return nil, err
	}
	return s.Routed.ApplyRoutes(ctx, f, plain)
}

func TestRoutesCatchWrongTables(t *testing.T) {
	fat := topology.FatTree{Spines: 2, Leaves: 2, NodesPerLeaf: 2}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	r := newRoutes(h.loops.cfg, skipIsolation{simRouted(t, fat, h.sm)})
	isolatedAcrossLeaves(t, h)
	st := r.reconcile(context.Background())
	if len(st.Violations) == 0 {
		t.Fatalf("tables ignoring the job passed the check: %+v", st)
	}
	if !strings.Contains(strings.Join(st.Violations, "\n"), "held by isolated job") {
		t.Errorf("violations do not name the job: %v", st.Violations)
	}
}

// failingLoad is a subnet manager whose loads of ibex's tables reach the
// switches but fail their read-back check, as OpenSM's can time out after
// the file was written and signalled.
type failingLoad struct{ *simsm.Routed }

func (s failingLoad) ApplyRoutes(ctx context.Context, f *route.Fabric, t route.Tables) (route.Tables, error) {
	if got, err := s.Routed.ApplyRoutes(ctx, f, t); err != nil || t == nil {
		return got, err
	}
	return nil, errors.New("tables read back differ after 30s")
}

// TestRoutesFailedLoadIsHandedBack: a load that failed is not retried
// every pass, and once the job ends its tables (they may be in the
// switches) are handed back rather than left there.
func TestRoutesFailedLoadIsHandedBack(t *testing.T) {
	fat := topology.FatTree{Spines: 2, Leaves: 2, NodesPerLeaf: 2}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	routed := simRouted(t, fat, h.sm)
	r := newRoutes(h.loops.cfg, failingLoad{routed})
	ctx := context.Background()
	r.reconcile(ctx) // hands routing back once
	j := isolatedAcrossLeaves(t, h)
	if st := r.reconcile(ctx); st.Err == "" {
		t.Fatalf("failed load reported %+v", st)
	}
	r.reconcile(ctx)
	if n, own := routed.Loads(); n != 2 || own {
		t.Fatalf("after a failed load: %d loads (want 2: no retry within driftEvery), own routing %v", n, own)
	}
	h.cancel(j.ID)
	for i := 0; i < 3 && len(isolatedJobs(h.store.Work(0))) > 0; i++ {
		h.pass()
	}
	if st := r.reconcile(ctx); st.Err != "" || st.Loaded {
		t.Fatalf("after the job: %+v", st)
	}
	if _, own := routed.Loads(); !own {
		t.Fatal("the failed load's tables were left in the switches after the job ended")
	}
}

// TestRoutesNewTermAppliesAgain: a server that led before, idle, and
// leads again hands back tables another leader loaded in between.
func TestRoutesNewTermAppliesAgain(t *testing.T) {
	fat := topology.FatTree{Spines: 2, Leaves: 2, NodesPerLeaf: 2}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	routed := simRouted(t, fat, h.sm)
	r := newRoutes(h.loops.cfg, routed)
	ctx := context.Background()
	r.reconcile(ctx)
	r.reconcile(ctx)
	// Another leader's term: its tables are loaded.
	f, _ := routed.RouteFabric(ctx)
	other, _, err := route.Compute(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := routed.ApplyRoutes(ctx, f, other); err != nil {
		t.Fatal(err)
	}
	r.newTerm()
	r.reconcile(ctx)
	if n, own := routed.Loads(); n != 3 || !own {
		t.Fatalf("new term: %d loads (want 3), own routing %v: the other leader's tables stay", n, own)
	}
}

// TestRoutesWithRealOpenSM is the loop against OpenSM's file routing
// engine on an ibsim fabric of the harness's shape: the tables the
// switches hold after the allocation are read back and checked, and the
// file goes when the job ends.
func TestRoutesWithRealOpenSM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts OpenSM")
	}
	fat := topology.FatTree{Spines: 2, Leaves: 2, NodesPerLeaf: 2}
	initial, err := opensm.Render(nil, sm.TenantIsolation)
	if err != nil {
		t.Fatal(err)
	}
	fab := ibsim.StartForTest(t, ibsim.Config{Topology: ibsim.Topology{Spines: 2, Leaves: 2, HostsPerLeaf: 2}, Partitions: initial, FileRouting: true})
	d, err := opensm.New(opensm.Config{PartitionsFile: fab.PartitionsFile, Rules: sm.TenantIsolation,
		Reload: func(context.Context) error { return fab.ReloadSM() }, Reader: opensm.ReaderFunc(fab.Tables), Logf: t.Logf,
		Routes: &opensm.RoutesConfig{LFTsFile: fab.LFTsFile,
			ReadLFTs: func(ctx context.Context) ([]byte, error) { return fab.Run(ctx, "dump_fts") },
			Discover: func(ctx context.Context) ([]byte, error) { return fab.Run(ctx, "ibnetdiscover") }}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, pkeypool.Pool{}, true, fat)
	r := newRoutes(h.loops.cfg, d)
	ctx := context.Background()
	j := isolatedAcrossLeaves(t, h)
	st := r.reconcile(ctx)
	if st.Err != "" || !st.Loaded || len(st.Violations) > 0 || len(st.Conflicts) > 0 {
		t.Fatalf("status %+v", st)
	}
	f, err := d.RouteFabric(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := d.ObserveRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := upTo(t, h, f, tb, "leaf01", "node004"); s != "spine01" {
		t.Errorf("job traffic to node004 goes up to %s", s)
	}
	if s := upTo(t, h, f, tb, "leaf02", "node001"); s != "spine02" {
		t.Errorf("traffic to node001 from leaf02 goes up to %s, over the job's cable", s)
	}
	h.cancel(j.ID)
	for i := 0; i < 3 && len(isolatedJobs(h.store.Work(0))) > 0; i++ {
		h.pass()
	}
	if st := r.reconcile(ctx); st.Loaded || st.Err != "" {
		t.Fatalf("after the job: %+v", st)
	}
	if _, err := os.Stat(fab.LFTsFile); !os.IsNotExist(err) {
		t.Errorf("lfts file still there after the job: %v", err)
	}
}
