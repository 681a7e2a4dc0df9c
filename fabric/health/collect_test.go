package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeFabric answers the diags from fixtures and can be told to fail.
// It stands in for ibsim.Fabric.Run / execrun.Run.
type fakeFabric struct {
	mu          sync.Mutex
	discover    []byte
	discoverErr error
	counters    map[string]Counters // "lid port"
	perfErr     map[string]error
	states      map[string]string // "lid port" -> LinkState; default Active
	stateErr    map[string]error
	extended    bool // -x output has error counters (else it lacks them, like ibsim)
	calls       map[string]int
}

func newFake(t *testing.T, dump string) *fakeFabric {
	return &fakeFabric{discover: readFixture(t, "ibsim/"+dump), counters: map[string]Counters{},
		perfErr: map[string]error{}, states: map[string]string{}, stateErr: map[string]error{}, calls: map[string]int{}}
}

func (f *fakeFabric) run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ext := len(args) > 0 && args[0] == "-x"
	if ext {
		args = args[1:]
	}
	key := strings.Join(args, " ")
	switch {
	case name == "ibnetdiscover":
		f.calls[name]++
		return f.discover, f.discoverErr
	case name == "perfquery" && ext:
		f.calls["perfquery -x"]++
	case name == "perfquery":
		f.calls[name]++
	case name == "smpquery" && len(args) == 3:
		f.calls[name]++
		key = strings.Join(args[1:], " ")
		if err := f.stateErr[key]; err != nil {
			return nil, err
		}
		st := f.states[key]
		if st == "" {
			st = "Active"
		}
		return fmt.Appendf(nil, "# Port info: Lid %s port %s\nLinkState:.......................%s\nPhysLinkState:...................LinkUp\n", args[1], args[2], st), nil
	default:
		return nil, fmt.Errorf("fake: unexpected %s %v", name, args)
	}
	if err := f.perfErr[key]; err != nil {
		return []byte("/usr/sbin/perfquery: iberror: failed: can't resolve destination port\n"), err
	}
	// perfquery <lid> <p1>,<p2>,...: one block per port.
	lid, list, _ := strings.Cut(key, " ")
	var out []byte
	for _, port := range strings.Split(list, ",") {
		c := f.counters[lid+" "+port]
		switch {
		case ext && !f.extended:
			out = fmt.Appendf(out, "# Port extended counters: Lid %s port %s (CapMask: 0x1300 CapMask2: 0x0000000)\nPortSelect:......................%s\nPortXmitData:....................1080\n", lid, port, port)
		case ext:
			out = fmt.Appendf(out, "# Port extended counters: Lid %s port %s (CapMask: 0x5A00 CapMask2: 0x0000000)\nSymbolErrorCounter:..............%d\nLinkDownedCounter:...............%d\nPortRcvErrors:...................%d\nPortXmitDiscards:................%d\n",
				lid, port, c.SymbolErrors, c.LinkDowned, c.RcvErrors, c.XmitDiscards)
		default:
			out = fmt.Appendf(out, "# Port counters: Lid %s port %s (CapMask: 0x1300)\nPortSelect:......................%s\nCounterSelect:...................0x0000\nSymbolErrorCounter:..............%d\nLinkErrorRecoveryCounter:........0\nLinkDownedCounter:...............%d\nPortRcvErrors:...................%d\nPortXmitDiscards:................%d\nCounterSelect2:..................0x00\n",
				lid, port, port, c.SymbolErrors, c.LinkDowned, c.RcvErrors, c.XmitDiscards)
		}
	}
	return out, nil
}

func (f *fakeFabric) take(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.calls[name]
	f.calls[name] = 0
	return n
}

func newCollector(f *fakeFabric, ext bool) *Collector {
	clock := t0
	return &Collector{
		Discover: &IBNetDiscover{Run: f.run},
		Counters: &PerfQuery{Run: f.run, Parallel: 4, Extended: ext},
		States:   &SMPQuery{Run: f.run, Parallel: 4},
		Now:      func() time.Time { clock = clock.Add(30 * time.Second); return clock },
	}
}

// TestCollectorOnIbsimDumps drives Collector and Monitor through real
// ibnetdiscover -p output of the 2x4x8 fabric, with node003 and the
// leaf01-spine01 cable unlinked and relinked.
func TestCollectorOnIbsimDumps(t *testing.T) {
	f := newFake(t, "ibnetdiscover-p-2x4x8.out")
	c := newCollector(f, false)
	m := New(Config{})
	ctx := context.Background()

	r := m.Observe(c.Collect(ctx))
	// 33 HCAs (32 hosts + sm01) and 8 uplinks; both ends' counters read,
	// one perfquery per LID (33 HCAs, 4 leaves, 2 spines); states asked
	// once for every switch end (33 + 16).
	if len(r.Links) != 41 || len(r.Nodes) != 33 || len(r.Unhealthy()) != 0 || r.Stale {
		t.Fatalf("links %d nodes %d unhealthy %v stale %q", len(r.Links), len(r.Nodes), r.Unhealthy(), r.StaleReason)
	}
	if n, s := f.take("perfquery"), f.take("smpquery"); n != 39 || s != 49 {
		t.Errorf("round 1: %d perfquery, %d smpquery; want 39, 49", n, s)
	}
	for _, lf := range r.Leaves {
		if lf.Uplinks != 2 || lf.Healthy != 2 {
			t.Errorf("%+v", lf)
		}
	}
	m.Observe(c.Collect(ctx))
	if s := f.take("smpquery"); s != 0 {
		t.Errorf("round 2 (nothing changed): %d smpquery", s)
	}

	f.discover = readFixture(t, "ibsim/ibnetdiscover-p-unlinked.out")
	r = m.Observe(c.Collect(ctx))
	n := mustNode(t, r, "node003")
	if n.Status != NodeUnhealthy || n.Reason() != "link to leaf01 port 3 down (not in the last discovery)" {
		t.Errorf("node003: %+v", n)
	}
	if lf := mustLeaf(t, r, "leaf01"); lf.Healthy != 1 || lf.Down != 1 {
		t.Errorf("leaf01: %+v", lf)
	}
	if len(r.Unhealthy()) != 1 {
		t.Errorf("unhealthy: %v", r.Unhealthy())
	}

	// Relinked, but the SM has not activated leaf01 port 3 yet.
	f.discover = readFixture(t, "ibsim/ibnetdiscover-p-2x4x8.out")
	f.states["3 3"] = "Initialize"
	r = m.Observe(c.Collect(ctx))
	if s := f.take("smpquery"); s != 3 {
		t.Errorf("relink round: %d smpquery, want 3 (leaf01 ports 3, 9 and spine01 port 1)", s)
	}
	if n := mustNode(t, r, "node003"); n.Status != NodeUnhealthy || !strings.Contains(n.Reason(), "leaf01 port 3 is Init") {
		t.Errorf("node003 in Init: %+v", n)
	}
	if lf := mustLeaf(t, r, "leaf01"); lf.Healthy != 2 {
		t.Errorf("leaf01 after relink: %+v", lf)
	}
	delete(f.states, "3 3")
	r = m.Observe(c.Collect(ctx))
	if s := f.take("smpquery"); s != 1 {
		t.Errorf("Init port not asked again: %d smpquery", s)
	}
	if n := mustNode(t, r, "node003"); n.Status != NodeHealthy {
		t.Errorf("node003 active: %+v", n)
	}
}

func TestCollectorFailures(t *testing.T) {
	f := newFake(t, "ibnetdiscover-p-2x4x8.out")
	c := newCollector(f, false)
	m := New(Config{CounterFailures: 2})
	ctx := context.Background()
	m.Observe(c.Collect(ctx))

	// ibnetdiscover fails: the sample says so, nothing goes down.
	f.discoverErr = errors.New("exit status 255")
	s := c.Collect(ctx)
	r := m.Observe(s)
	if s.DiscoverErr == nil || !r.Stale || len(r.Unhealthy()) != 0 {
		t.Errorf("discovery failure: %v stale %v unhealthy %v", s.DiscoverErr, r.Stale, r.Unhealthy())
	}
	// Garbage from ibnetdiscover is a failure too.
	f.discoverErr, f.discover = nil, []byte("ibwarn: something\n")
	if s := c.Collect(ctx); s.DiscoverErr == nil {
		t.Error("unparsable discovery accepted")
	}
	f.discover = readFixture(t, "ibsim/ibnetdiscover-p-2x4x8.out")

	// perfquery fails for node005 (LID 18) and smpquery for a new link.
	f.perfErr["18 1"] = errors.New("exit status 255")
	s = c.Collect(ctx)
	if s.CounterErrs[PortID{GUID: 0x0002c90300000051, Port: 1}] == nil || len(s.CounterErrs) != 1 {
		t.Errorf("counter errors: %v", s.CounterErrs)
	}
	m.Observe(s)
	r = m.Observe(c.Collect(ctx))
	if n := mustNode(t, r, "node005"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "node005 port 1: counters unreadable 2 times in a row") {
		t.Errorf("node005: %+v", n)
	}

	f.take("smpquery")
	f.discover = readFixture(t, "ibsim/ibnetdiscover-p-unlinked.out")
	c.Collect(ctx)
	f.discover = readFixture(t, "ibsim/ibnetdiscover-p-2x4x8.out")
	f.stateErr["3 3"] = errors.New("timeout")
	c.Collect(ctx)
	f.take("smpquery")
	delete(f.stateErr, "3 3")
	c.Collect(ctx)
	if n := f.take("smpquery"); n != 1 {
		t.Errorf("unreadable state not retried: %d smpquery", n)
	}
}

func TestPerfQueryExtendedFallback(t *testing.T) {
	f := newFake(t, "ibnetdiscover-p-2x4x8.out")
	q := &PerfQuery{Run: f.run, Extended: true}
	ports := []PortAddr{{ID: PortID{GUID: 1, Port: 1}, LID: 18}, {ID: PortID{GUID: 2, Port: 5}, LID: 3}}
	f.counters["18 1"] = Counters{SymbolErrors: 7}
	got, errs := q.ReadCounters(context.Background(), ports)
	if len(errs) != 0 || got[ports[0].ID] != (Counters{SymbolErrors: 7}) {
		t.Fatalf("%v %v", got, errs)
	}
	if x, p := f.take("perfquery -x"), f.take("perfquery"); x != 2 || p != 2 {
		t.Errorf("first read: %d -x, %d plain", x, p)
	}
	q.ReadCounters(context.Background(), ports)
	if x, p := f.take("perfquery -x"), f.take("perfquery"); x != 0 || p != 2 {
		t.Errorf("second read: %d -x, %d plain (fallback not remembered)", x, p)
	}
	// Hardware with 64-bit error counters stays on -x.
	f.extended = true
	q = &PerfQuery{Run: f.run, Extended: true}
	got, _ = q.ReadCounters(context.Background(), ports)
	if !got[ports[0].ID].Extended || f.take("perfquery") != 0 {
		t.Errorf("extended: %+v", got)
	}
	// A port without a LID is an error, not a silent skip.
	_, errs = q.ReadCounters(context.Background(), []PortAddr{{ID: PortID{GUID: 3, Port: 1}}})
	if len(errs) != 1 {
		t.Errorf("no-LID port: %v", errs)
	}
}
