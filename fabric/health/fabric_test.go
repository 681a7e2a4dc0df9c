package health

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
)

// console sends an ibsim console command and fails on ibsim's "# ..."
// error replies (ibsim 0.10: `Unlink "node"[port]`, `ReLink "node"[port]`,
// `PerformanceSet "node"[port] PortCounters.<field>=<value>`).
func console(t *testing.T, f *ibsim.Fabric, cmd string) {
	t.Helper()
	out, err := f.Console(cmd)
	if err != nil {
		t.Fatalf("console %s: %v", cmd, err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "#") || strings.Contains(l, "unknown") {
			t.Fatalf("console %s: %s", cmd, out)
		}
	}
	t.Logf("console %s -> %q", cmd, out)
}

// collect runs one real round and logs what it cost.
func collect(t *testing.T, c *Collector, m *Monitor) Report {
	t.Helper()
	start := time.Now()
	s := c.Collect(context.Background())
	r := m.Observe(s)
	t.Logf("collect: %v, %d links, %d counters (%d failed), %d states read; stale=%v %s",
		time.Since(start).Round(time.Millisecond), len(s.Links), len(s.Counters), len(s.CounterErrs), len(s.States), r.Stale, r.StaleReason)
	return r
}

// waitFor collects until ok(report) or the deadline (the SM may need a
// sweep to activate a relinked port).
func waitFor(t *testing.T, c *Collector, m *Monitor, what string, ok func(Report) bool) Report {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		r := collect(t, c, m)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 45 s; nodes not healthy: %+v; leaves %+v", what, notHealthy(r), r.Leaves)
		}
		time.Sleep(time.Second)
	}
}

func notHealthy(r Report) []NodeHealth {
	var out []NodeHealth
	for _, n := range r.Nodes {
		if n.Status != NodeHealthy {
			out = append(out, n)
		}
	}
	return out
}

// TestFabricHealth runs the collectors against a real ibsim + OpenSM
// 2x4x8 fat tree: all healthy, a host cable unlinked and relinked, an
// uplink unlinked and relinked, and symbol errors injected into a port.
func TestFabricHealth(t *testing.T) {
	if err := ibsim.Available(); err != nil {
		t.Skipf("SKIP (no simulated fabric, fabric/health not tested against real diags): %v", err)
	}
	if testing.Short() {
		t.Skip("SKIP in -short: starts ibsim and opensm")
	}
	f := ibsim.StartForTest(t, ibsim.Config{Topology: ibsim.Topology{Spines: 2, Leaves: 4, HostsPerLeaf: 8}})
	c := &Collector{
		Discover: &IBNetDiscover{Run: f.Run},
		Counters: &PerfQuery{Run: f.Run, Parallel: 4, Extended: true},
		States:   &SMPQuery{Run: f.Run, Parallel: 4},
	}
	m := New(Config{})

	r := collect(t, c, m)
	if len(r.Nodes) != 33 || len(notHealthy(r)) != 0 || r.Stale {
		t.Fatalf("fresh fabric: %d nodes, not healthy %+v, stale %q", len(r.Nodes), notHealthy(r), r.StaleReason)
	}
	for _, lf := range r.Leaves {
		if lf.Uplinks != 2 || lf.Healthy != 2 {
			t.Errorf("fresh fabric: %+v", lf)
		}
	}

	// A host cable: node003 sits on leaf01 port 3.
	console(t, f, `Unlink "node003"`)
	r = collect(t, c, m)
	n := mustNode(t, r, "node003")
	if n.Status != NodeUnhealthy || !strings.HasPrefix(n.Reason(), "link to leaf01 port 3 down") {
		t.Fatalf("node003 after unlink: %+v", n)
	}
	if u := r.Unhealthy(); len(u) != 1 {
		t.Errorf("unhealthy: %+v", u)
	}
	downReason := n.Reason()
	t.Logf("node003: %s: %s", n.Status, downReason)
	console(t, f, `ReLink "node003"`)
	r = waitFor(t, c, m, "node003 back", func(r Report) bool {
		n, _ := r.Node("node003")
		return n.Status == NodeHealthy
	})
	t.Logf("node003 after relink: %+v", mustNode(t, r, "node003"))

	// An uplink: leaf02 port 9 goes to spine01.
	console(t, f, `Unlink "L02"[9]`)
	r = collect(t, c, m)
	lf := mustLeaf(t, r, "leaf02")
	if lf.Uplinks != 2 || lf.Healthy != 1 || lf.Down != 1 || len(r.Unhealthy()) != 0 {
		t.Fatalf("leaf02 after uplink unlink: %+v, unhealthy %+v", lf, r.Unhealthy())
	}
	t.Logf("leaf02 after unlink: %+v", lf)
	console(t, f, `ReLink "L02"[9]`)
	waitFor(t, c, m, "leaf02 uplink back", func(r Report) bool {
		lf, _ := r.Leaf("leaf02")
		return lf.Healthy == 2
	})

	// Errors: the real perfquery reads what ibsim's PMA was set to.
	console(t, f, `PerformanceSet "node005"[1] PortCounters.SymbolErrorCounter=500`)
	r = collect(t, c, m)
	n = mustNode(t, r, "node005")
	if n.Status != NodeDegraded || !strings.Contains(n.Reason(), "node005 port 1:") || !strings.Contains(n.Reason(), "symbol errors/min") {
		t.Fatalf("node005 with symbol errors: %+v", n)
	}
	t.Logf("node005: %s: %s", n.Status, n.Reason())
	fmt.Printf("fabric health on ibsim 2x4x8: unlink node003 -> %q; relink -> healthy; unlink L02[9] -> leaf02 %d/%d healthy uplinks\n",
		downReason, lf.Healthy, lf.Uplinks)
}
