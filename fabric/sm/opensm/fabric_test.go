package opensm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// directReader reads tables through the fabric's own SMP client.
func directReader(f *ibsim.Fabric) PKeyReader { return ReaderFunc(f.Tables) }

// startFabric starts a fat tree whose SM already runs ibex's default
// rules (tenants limited in 0x7fff) and returns a driver for it.
func startFabric(tb testing.TB, top ibsim.Topology, reader func(*ibsim.Fabric) PKeyReader) (*ibsim.Fabric, *Driver) {
	tb.Helper()
	initial, err := Render(nil, sm.TenantIsolation)
	if err != nil {
		tb.Fatal(err)
	}
	f := ibsim.StartForTest(tb, ibsim.Config{Topology: top, Partitions: initial})
	d, err := New(Config{
		PartitionsFile: f.PartitionsFile,
		Rules:          sm.TenantIsolation,
		Reload:         func(context.Context) error { return f.ReloadSM() },
		Reader:         reader(f),
		VerifyTimeout:  60 * time.Second,
		ResignalAfter:  5 * time.Second,
		Logf:           tb.Logf,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f, d
}

func hostGUIDs(f *ibsim.Fabric) []sm.GUID {
	var gs []sm.GUID
	for _, h := range f.Hosts() {
		gs = append(gs, sm.GUID(h.PortGUID))
	}
	return gs
}

// nodes returns full members for hosts node<from>..node<to>.
func nodes(from, to int) []sm.Member {
	var ms []sm.Member
	for i := from; i <= to; i++ {
		ms = append(ms, sm.Member{GUID: sm.GUID(ibsim.HostPortGUID(i)), Membership: sm.Full})
	}
	return ms
}

// checkFabric reads every host port from the fabric and compares with
// the tables desired implies (hosts in no partition: 0x7fff only).
func checkFabric(t *testing.T, f *ibsim.Fabric, d *Driver, desired []sm.Partition) {
	t.Helper()
	hosts := hostGUIDs(f)
	got, err := d.Observe(context.Background(), hosts)
	if err != nil {
		t.Fatal(err)
	}
	want := sm.Expected(desired, sm.TenantIsolation, hosts)
	for i, g := range hosts {
		if !got[g].Equal(want[g]) {
			t.Errorf("%s (%s): fabric has %v, want %v", f.Hosts()[i].Name, g, got[g], want[g])
		}
	}
}

func TestFabricPartitions(t *testing.T) {
	f, d := startFabric(t, ibsim.Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}, directReader)
	ctx := context.Background()

	// Before any allocation: tenants are limited members of 0x7fff
	// (raw 0x7fff), the SM's port a full member (0xffff).
	checkFabric(t, f, d, nil)
	smPort := sm.GUID(f.Topology.SMHost().PortGUID)
	if got, _ := d.Observe(ctx, []sm.GUID{smPort}); !got[smPort].Has(0xffff) {
		t.Errorf("SM port: %v", got[smPort])
	}

	// Two allocations. 15-bit keys 0x0001/0x0002: full members read
	// 0x8001/0x8002 in the tables.
	a := sm.Partition{Name: "alloc-a", PKey: 0x0001, IPoIB: true, Members: nodes(1, 4)}
	b := sm.Partition{Name: "alloc-b", PKey: 0x0002, IPoIB: true, Members: nodes(5, 8)}
	t0 := time.Now()
	if err := d.Apply(ctx, []sm.Partition{a, b}); err != nil {
		t.Fatal(err)
	}
	t.Logf("apply 2 allocations: %v verified (%+v)", time.Since(t0), d.LastStats())
	checkFabric(t, f, d, []sm.Partition{a, b})

	// smpquery, the production reader, must see the same tables.
	sq := &SMPQuery{Run: f.Run, Parallel: 4}
	few := []sm.GUID{sm.GUID(ibsim.HostPortGUID(1)), sm.GUID(ibsim.HostPortGUID(5)), sm.GUID(ibsim.HostPortGUID(20))}
	byTool, err := sq.ReadPKeys(ctx, few)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := d.Observe(ctx, few)
	for _, g := range few {
		if !byTool[g].Equal(direct[g]) {
			t.Errorf("%s: smpquery %v, direct %v", g, byTool[g], direct[g])
		}
	}

	// Move node004 from a to b: its old key must be gone.
	a.Members, b.Members = nodes(1, 3), nodes(4, 8)
	if err := d.Apply(ctx, []sm.Partition{a, b}); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); st.Checked != 1 {
		t.Errorf("move of one node verified %d ports, want 1", st.Checked)
	}
	n4 := sm.GUID(ibsim.HostPortGUID(4))
	got, _ := d.Observe(ctx, []sm.GUID{n4})
	if got[n4].HasKey(0x0001) || !got[n4].Has(0x8002) {
		t.Errorf("node004 after move: %v", got[n4])
	}
	checkFabric(t, f, d, []sm.Partition{a, b})

	// A file that fails validation is never installed: old file, old
	// tables, no signal.
	before, _ := os.ReadFile(f.PartitionsFile)
	// The last sweep's "SUBNET UP" can reach the log after the tables
	// already match: let the log go quiet before taking the offset.
	waitLogQuiet(f.OpenSMLog, 300*time.Millisecond, 10*time.Second)
	logOff := f.LogOffset()
	d.renderHook = func(b []byte) []byte { return append(b, "alloc-c=0x0003 : 0x1234=fulll ;\n"...) }
	err = d.Apply(ctx, []sm.Partition{a})
	d.renderHook = nil
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want ValidationError, got %v", err)
	}
	t.Logf("rejected as expected: %v", err)
	after, _ := os.ReadFile(f.PartitionsFile)
	if string(before) != string(after) {
		t.Error("partitions.conf changed after a validation failure")
	}
	time.Sleep(200 * time.Millisecond)
	checkFabric(t, f, d, []sm.Partition{a, b})
	if b, _ := os.ReadFile(f.OpenSMLog); strings.Contains(string(b[logOff:]), "SUBNET UP") {
		t.Error("opensm swept after a validation failure (was it signalled?)")
	}

	// The real OpenSM parser as an extra validator accepts our files.
	d.cfg.Validators = []Validator{OpenSMParser{}}
	c := sm.Partition{Name: "alloc-c", PKey: 0x0003, Members: nodes(9, 16)}
	if err := d.Apply(ctx, []sm.Partition{a, b, c}); err != nil {
		t.Fatal(err)
	}
	d.cfg.Validators = nil
	t.Logf("apply with opensm --once validation: %+v", d.LastStats())
	checkFabric(t, f, d, []sm.Partition{a, b, c})

	logs, _ := os.ReadFile(f.OpenSMLog)
	if strings.Contains(string(logs), "PARSE") || strings.Contains(string(logs), "in error") {
		t.Errorf("opensm logged parse problems:\n%s", grepLines(string(logs), "PARSE", "in error"))
	}
}

func TestFabricSMRestart(t *testing.T) {
	f, d := startFabric(t, ibsim.Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}, directReader)
	ctx := context.Background()
	a := sm.Partition{Name: "alloc-a", PKey: 0x0011, Members: nodes(1, 8)}
	if err := d.Apply(ctx, []sm.Partition{a}); err != nil {
		t.Fatal(err)
	}

	// 1. SM down during a change: the file is written, the SIGHUP
	// fails, verification times out; Observe shows the truth (old
	// tables). When the SM comes back it reads the new file, and a
	// repeated Apply verifies (and would repair) without rewriting.
	if err := f.StopSM(); err != nil {
		t.Fatal(err)
	}
	b := sm.Partition{Name: "alloc-b", PKey: 0x0012, Members: nodes(9, 16)}
	d.cfg.VerifyTimeout = 2 * time.Second
	err := d.Apply(ctx, []sm.Partition{a, b})
	var verr *VerifyError
	if !errors.As(err, &verr) || len(verr.Ports) != 8 {
		t.Fatalf("apply with SM down: want VerifyError for 8 ports, got %v", err)
	}
	t.Logf("SM down: %v", err)
	checkFabric(t, f, d, []sm.Partition{a}) // truth: nothing changed yet
	if err := f.StartSM(ctx); err != nil {
		t.Fatal(err)
	}
	d.cfg.VerifyTimeout = 60 * time.Second
	if err := d.Apply(ctx, []sm.Partition{a, b}); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); st.Written {
		t.Errorf("retry rewrote an unchanged file: %+v", st)
	}
	checkFabric(t, f, d, []sm.Partition{a, b})

	// 2. SM restarted while an Apply is in flight: whichever opensm
	// gets the SIGHUP (or none), the Apply converges or reports, and
	// a repeated Apply always ends in the desired state.
	c := sm.Partition{Name: "alloc-c", PKey: 0x0013, Members: append(nodes(4, 6), nodes(20, 24)...)}
	a.Members = nodes(1, 3)
	want := []sm.Partition{a, b, c}
	errc := make(chan error, 1)
	go func() { errc <- d.Apply(ctx, want) }()
	time.Sleep(5 * time.Millisecond)
	if err := f.RestartSM(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Logf("in-flight apply during SM restart: %v", err)
	}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	t.Logf("after restart: %+v", d.LastStats())
	checkFabric(t, f, d, want)

	// 3. Drift: the SM restarts on a stale file (someone restored an
	// old copy). The file we own is rewritten and the fabric repaired.
	stale, _ := Render([]sm.Partition{{Name: "alloc-a", PKey: 0x0011, Members: nodes(1, 8)}}, sm.TenantIsolation)
	if err := f.StopSM(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.PartitionsFile, stale, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.StartSM(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	if st := d.LastStats(); !st.Written || st.Signals < 1 {
		t.Errorf("stale file not replaced: %+v", st)
	}
	checkFabric(t, f, d, want)
}

func grepLines(s string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}

// waitLogQuiet waits until path has not grown for quiet, or until max.
func waitLogQuiet(path string, quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	last := int64(-1)
	for time.Now().Before(deadline) {
		st, err := os.Stat(path)
		if err == nil && st.Size() == last {
			return
		}
		if err == nil {
			last = st.Size()
		}
		time.Sleep(quiet)
	}
}
