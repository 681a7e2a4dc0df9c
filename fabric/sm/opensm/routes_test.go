package opensm

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// startRoutedFabric starts a fat tree whose OpenSM runs the file routing
// engine and a driver that loads tables into it.
func startRoutedFabric(t *testing.T, top ibsim.Topology) (*ibsim.Fabric, *Driver) {
	return startRoutedFabricLMC(t, top, 0)
}

// startRoutedFabricLMC is startRoutedFabric with OpenSM's lmc set.
func startRoutedFabricLMC(t *testing.T, top ibsim.Topology, lmc int) (*ibsim.Fabric, *Driver) {
	t.Helper()
	initial, err := Render(nil, sm.TenantIsolation)
	if err != nil {
		t.Fatal(err)
	}
	f := ibsim.StartForTest(t, ibsim.Config{Topology: top, Partitions: initial, FileRouting: true, LMC: lmc})
	d, err := New(Config{
		PartitionsFile: f.PartitionsFile,
		Rules:          sm.TenantIsolation,
		Reload:         func(context.Context) error { return f.ReloadSM() },
		Reader:         directReader(f),
		VerifyTimeout:  60 * time.Second,
		Logf:           t.Logf,
		Routes: &RoutesConfig{
			LFTsFile: f.LFTsFile,
			ReadLFTs: func(ctx context.Context) ([]byte, error) { return f.Run(ctx, "dump_fts") },
			Discover: func(ctx context.Context) ([]byte, error) { return f.Run(ctx, "ibnetdiscover") },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, d
}

// tracert returns the switches a packet from host a to host b passes,
// as ibtracert reads them from the switches' tables.
func tracert(t *testing.T, f *ibsim.Fabric, rf *route.Fabric, a, b int) []string {
	t.Helper()
	la, lb := rf.End(ibsim.HostPortGUID(a)).LID, rf.End(ibsim.HostPortGUID(b)).LID
	out, err := f.Run(context.Background(), "ibtracert", strconv.Itoa(int(la)), strconv.Itoa(int(lb)))
	if err != nil {
		t.Fatalf("ibtracert: %v\n%s", err, out)
	}
	var sws []string
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "switch port"); i >= 0 {
			if q := strings.Split(line, "\""); len(q) >= 2 {
				sws = append(sws, q[1])
			}
		}
	}
	t.Logf("ibtracert node%03d -> node%03d: %v", a, b, sws)
	return sws
}

func has(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestFabricLinkIsolationRoutes is the enforcement of --isolation links
// on a real OpenSM: a job on node001 (leaf01) and node003 (leaf02)
// holding the cables of spine01 at both leaves.
func TestFabricLinkIsolationRoutes(t *testing.T) {
	f, d := startRoutedFabric(t, ibsim.Topology{Spines: 2, Leaves: 3, HostsPerLeaf: 2})
	ctx := context.Background()
	rf, err := d.RouteFabric(ctx)
	if err != nil {
		t.Fatal(err)
	}
	job := route.Job{ID: "7", Ports: []uint64{ibsim.HostPortGUID(1), ibsim.HostPortGUID(3)}}
	for _, l := range []string{"leaf01>spine01", "leaf02>spine01"} {
		c, err := rf.ResolveLink(l)
		if err != nil {
			t.Fatal(err)
		}
		job.Cables = append(job.Cables, c)
	}
	jobs := []route.Job{job}

	// Before: OpenSM's own routing (no lfts file yet: minhop) ignores the
	// held cables.
	own, err := d.ObserveRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := route.Check(rf, jobs, own)
	t.Logf("OpenSM's minhop tables: %d isolation violations, e.g. %v", len(v), first(v))
	if len(v) == 0 {
		t.Error("minhop happened to respect the held cables; the test fabric no longer shows the problem")
	}

	// Enforce: ibex's tables through the file engine, read back, checked.
	tables, conflicts, err := route.Compute(rf, jobs)
	if err != nil || len(conflicts) > 0 {
		t.Fatal(err, conflicts)
	}
	start := time.Now()
	if _, err := d.ApplyRoutes(ctx, rf, tables); err != nil {
		t.Fatal(err)
	}
	t.Logf("tables loaded and read back equal in %v", time.Since(start).Round(time.Millisecond))
	got, err := d.ObserveRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := route.Check(rf, jobs, got); len(v) > 0 {
		t.Fatalf("switches' tables violate the isolation: %v", v)
	}
	log, _ := os.ReadFile(f.OpenSMLog)
	if !strings.Contains(string(log), "file tables configured on all switches") {
		t.Error("OpenSM's log does not say it loaded the file")
	}
	// The switches forward as promised, traced hop by hop.
	if p := tracert(t, f, rf, 1, 3); !has(p, "spine01") {
		t.Errorf("job traffic node001 -> node003 does not cross spine01: %v", p)
	}
	if p := tracert(t, f, rf, 3, 1); !has(p, "spine01") {
		t.Errorf("job traffic node003 -> node001 does not cross spine01: %v", p)
	}
	for _, pair := range [][2]int{{4, 2}, {2, 4}, {5, 2}, {6, 4}, {2, 5}} {
		if p := tracert(t, f, rf, pair[0], pair[1]); has(p, "spine01") {
			t.Errorf("node%03d -> node%03d crosses spine01, whose cables at leaf01/leaf02 the job holds: %v", pair[0], pair[1], p)
		}
	}

	// Deliberately wrong: tables computed without the isolated job (rule
	// b skipped). OpenSM loads them faithfully; the check of what the
	// switches hold catches it.
	wrong, _, err := route.Compute(rf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyRoutes(ctx, rf, wrong); err != nil {
		t.Fatal(err)
	}
	got, err = d.ObserveRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v = route.Check(rf, jobs, got)
	if len(v) == 0 {
		t.Fatal("tables that ignore the held cables passed the check")
	}
	t.Logf("wrong tables: %d violations caught, e.g. %v", len(v), first(v))

	// Released: the file goes, OpenSM routes by itself again.
	if _, err := d.ApplyRoutes(ctx, rf, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.LFTsFile); !os.IsNotExist(err) {
		t.Errorf("lfts file still there: %v", err)
	}
}

// TestFabricRoutesDrift: tables changed on the switches behind ibex's
// back (another file put in place and OpenSM signalled) are
// detected by ApplyRoutes with unchanged input, which rewrites and
// re-signals until the switches agree again.
func TestFabricRoutesDrift(t *testing.T) {
	f, d := startRoutedFabric(t, ibsim.Topology{Spines: 2, Leaves: 3, HostsPerLeaf: 2})
	ctx := context.Background()
	rf, err := d.RouteFabric(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := rf.ResolveLink("leaf01>spine01")
	c2, _ := rf.ResolveLink("leaf02>spine01")
	jobs := []route.Job{{ID: "j", Ports: []uint64{ibsim.HostPortGUID(1), ibsim.HostPortGUID(3)}, Cables: []route.Cable{c1, c2}}}
	tables, _, err := route.Compute(rf, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ApplyRoutes(ctx, rf, tables); err != nil {
		t.Fatal(err)
	}
	// Tamper: someone installs tables that ignore the job and signals
	// OpenSM. (Removing the file is not enough to show drift: minhop keeps
	// a switch's current entry when it is a minimum-hop port, unless
	// ignore_existing_lfts is set, so the tables would stay ibex's.)
	plain, _, _ := route.Compute(rf, nil)
	if err := os.WriteFile(f.LFTsFile, route.Render(rf, plain), 0o644); err != nil {
		t.Fatal(err)
	}
	off := f.LogOffset()
	if err := f.ReloadSM(); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitLog(ctx, off, "SUBNET UP"); err != nil {
		t.Fatal(err)
	}
	got, _ := d.ObserveRoutes(ctx)
	if _, n := route.Diff(rf, tables, got, 1); n == 0 {
		t.Fatal("tampering changed nothing; the test proves nothing")
	}
	if _, err := d.ApplyRoutes(ctx, rf, tables); err != nil {
		t.Fatal(err)
	}
	got, _ = d.ObserveRoutes(ctx)
	if d, n := route.Diff(rf, tables, got, 3); n > 0 {
		t.Fatalf("not repaired: %v", d)
	}
}

func first(v []route.Violation) []route.Violation {
	if len(v) > 3 {
		return v[:3]
	}
	return v
}

// An OpenSM driver without an lfts_file is not a router: the leader runs
// no routing loop with it (and so never warns about it every pass).
func TestRouterOfNeedsRoutesConfig(t *testing.T) {
	cfg := Config{PartitionsFile: "/nonexistent", Reload: func(context.Context) error { return nil },
		Reader: ReaderFunc(func(context.Context, []sm.GUID) (map[sm.GUID]sm.Table, error) { return nil, nil })}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sm.RouterOf(&sm.Coalescer{D: d}) != nil {
		t.Error("driver without Routes taken for a router")
	}
	cfg.Routes = &RoutesConfig{LFTsFile: "/nonexistent/lfts", ReadLFTs: func(context.Context) ([]byte, error) { return nil, nil }}
	if d, _ = New(cfg); sm.RouterOf(&sm.Coalescer{D: d}) == nil {
		t.Error("driver with Routes not found behind the coalescer")
	}
}
