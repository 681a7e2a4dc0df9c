package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

func TestMonitorHostLinkDownAndBack(t *testing.T) {
	tr := tree{spines: 2, leaves: 2, hosts: 4}
	all := tr.links()
	m := New(Config{})
	r := m.Observe(sampleAt(0, all))
	if len(r.Nodes) != 8 || len(r.Unhealthy()) != 0 || r.Stale || len(r.Links) != 12 {
		t.Fatalf("healthy fabric: %d nodes, %d unhealthy, %d links, stale %v", len(r.Nodes), len(r.Unhealthy()), len(r.Links), r.Stale)
	}
	if lf := mustLeaf(t, r, "leaf01"); lf.Uplinks != 2 || lf.Healthy != 2 {
		t.Errorf("leaf01 %+v", lf)
	}

	// node003's cable disappears from the discovery.
	r = m.Observe(sampleAt(1, without(all, tr.hostLink(3))))
	n := mustNode(t, r, "node003")
	if n.Status != NodeUnhealthy || n.Reason() != "link to leaf01 port 3 down (not in the last discovery)" {
		t.Fatalf("node003: %+v", n)
	}
	if last := m.Last(); len(r.Changes(&last)) != 0 {
		t.Errorf("changes against itself: %v", r.Changes(&last))
	}
	if ch := r.Changes(nil); len(ch) != 1 || ch[0].To != NodeUnhealthy {
		t.Errorf("changes since nothing: %v", ch)
	}
	prev := r
	r = m.Observe(sampleAt(2, all))
	if n := mustNode(t, r, "node003"); n.Status != NodeHealthy {
		t.Fatalf("node003 after relink: %+v", n)
	}
	ch := r.Changes(&prev)
	if len(ch) != 1 || ch[0].Name != "node003" || ch[0].From != NodeUnhealthy || ch[0].To != NodeHealthy {
		t.Errorf("changes %+v", ch)
	}
}

func TestMonitorPortNotActive(t *testing.T) {
	tr := tree{spines: 1, leaves: 1, hosts: 2}
	all := tr.links()
	m := New(Config{})
	s := sampleAt(0, all)
	s.States = map[PortID]PortState{at(tr.leaf(1), 2).Port: StateInit}
	r := m.Observe(s)
	n := mustNode(t, r, "node002")
	if n.Status != NodeUnhealthy || !strings.Contains(n.Reason(), "link to leaf01 port 2 down (leaf01 port 2 is Init)") {
		t.Fatalf("node002: %+v", n)
	}
	// State is remembered until read again.
	if n := mustNode(t, m.Observe(sampleAt(1, all)), "node002"); n.Status != NodeUnhealthy {
		t.Errorf("state forgotten: %+v", n)
	}
	s = sampleAt(2, all)
	s.States = map[PortID]PortState{at(tr.leaf(1), 2).Port: StateActive}
	if n := mustNode(t, m.Observe(s), "node002"); n.Status != NodeHealthy {
		t.Errorf("active again: %+v", n)
	}
}

func TestMonitorUplinkDown(t *testing.T) {
	tr := tree{spines: 2, leaves: 3, hosts: 2}
	all := tr.links()
	m := New(Config{})
	m.Observe(sampleAt(0, all))
	r := m.Observe(sampleAt(1, without(all, tr.uplink(2, 1))))
	lf := mustLeaf(t, r, "leaf02")
	if lf.Uplinks != 2 || lf.Healthy != 1 || lf.Down != 1 {
		t.Errorf("leaf02 %+v", lf)
	}
	if lf := mustLeaf(t, r, "leaf01"); lf.Healthy != 2 {
		t.Errorf("leaf01 %+v", lf)
	}
	if len(r.Unhealthy()) != 0 {
		t.Errorf("an uplink made hosts unhealthy: %v", r.Unhealthy())
	}
}

func TestMonitorErrorRatesAndResets(t *testing.T) {
	tr := tree{spines: 1, leaves: 1, hosts: 2}
	all := tr.links()
	m := New(Config{Window: 4})
	leafPort := at(tr.leaf(1), 1).Port
	step := func(i int, c Counters) Report {
		s := sampleAt(i, all)
		s.Counters[leafPort] = c
		return m.Observe(s)
	}
	step(0, Counters{SymbolErrors: 1000}) // history before we started: ignored
	r := step(1, Counters{SymbolErrors: 1002})
	if n := mustNode(t, r, "node001"); n.Status != NodeHealthy {
		t.Fatalf("4 errors/min flagged: %+v", n)
	}
	// 30 more in 30 s: 32 over 1 min = 32/min > 10.
	r = step(2, Counters{SymbolErrors: 1032})
	n := mustNode(t, r, "node001")
	if n.Status != NodeDegraded || !strings.Contains(n.Reason(), "leaf01 port 1: 32.0 symbol errors/min over 1m0s (limit 10)") {
		t.Fatalf("node001: %+v", n)
	}
	// Reset (switch reboot): counting restarts at 0; 1 error is growth 1,
	// not 2^64-1031.
	r = step(3, Counters{SymbolErrors: 1})
	if l := r.Links[0]; l.B.Port != leafPort || l.ErrorsB.SymbolErrors != 22 || l.ErrorsB.Span != 90*time.Second {
		t.Errorf("after reset: %v %+v, want 33 errors in 90 s", l.B.Port, l.ErrorsB)
	}
	// The burst ages out of the 4-interval window.
	for i := 4; i < 8; i++ {
		r = step(i, Counters{SymbolErrors: 1})
	}
	if n := mustNode(t, r, "node001"); n.Status != NodeHealthy {
		t.Errorf("burst did not age out: %+v", n)
	}
	if m.ports[leafPort].resets != 1 {
		t.Errorf("resets %d", m.ports[leafPort].resets)
	}
}

func TestMonitorFlapSaturationAndUnreadable(t *testing.T) {
	tr := tree{spines: 1, leaves: 1, hosts: 3}
	all := tr.links()
	m := New(Config{CounterFailures: 2})
	h1, h2, h3 := tr.host(1).Port, tr.host(2).Port, tr.host(3).Port
	s := sampleAt(0, all)
	s.Counters[h2] = Counters{SymbolErrors: 65535}
	m.Observe(s)
	s = sampleAt(1, all)
	s.Counters[h1] = Counters{LinkDowned: 1}
	s.Counters[h2] = Counters{SymbolErrors: 65535}
	delete(s.Counters, h3)
	s.CounterErrs = map[PortID]error{h3: errors.New("timeout")}
	r := m.Observe(s)
	if n := mustNode(t, r, "node001"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "link went down 1 time(s)") {
		t.Errorf("flap: %+v", n)
	}
	if n := mustNode(t, r, "node002"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "SymbolErrorCounter saturated") {
		t.Errorf("saturated: %+v", n)
	}
	if n := mustNode(t, r, "node003"); n.Status != NodeHealthy {
		t.Errorf("one failed read already degrades: %+v", n)
	}
	s.Time = s.Time.Add(30 * time.Second)
	r = m.Observe(s)
	if n := mustNode(t, r, "node003"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "counters unreadable 2 times in a row: timeout") {
		t.Errorf("unreadable: %+v", n)
	}
}

func TestMonitorRateBelowExpected(t *testing.T) {
	tr := tree{spines: 1, leaves: 1, hosts: 2}
	all := tr.links()
	m := New(Config{MinRate: ibnet.Rate{Speed: ibnet.HDR}})
	r := m.Observe(sampleAt(0, all))
	if n := mustNode(t, r, "node001"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "speed EDR below expected HDR") {
		t.Errorf("min rate: %+v", n)
	}
	// Without MinRate, a link is held to its own best: 4x -> 1x.
	m = New(Config{})
	m.Observe(sampleAt(0, all))
	slow := without(all, tr.hostLink(2))
	l := tr.hostLink(2)
	l.Rate.Width = 1
	r = m.Observe(sampleAt(1, append(slow, l)))
	if n := mustNode(t, r, "node002"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "width 1x below expected 4x") {
		t.Errorf("trained down: %+v", n)
	}
}

func TestMonitorStaleDiscovery(t *testing.T) {
	tr := tree{spines: 2, leaves: 2, hosts: 4}
	all := tr.links()
	m := New(Config{})
	m.Observe(sampleAt(0, all))
	r := m.Observe(Sample{Time: t0.Add(time.Minute), DiscoverErr: errors.New("ibnetdiscover: exit status 255")})
	if !r.Stale || len(r.Unhealthy()) != 0 || !strings.Contains(r.StaleReason, "exit status 255") {
		t.Errorf("failed discovery: stale %v %q, %d unhealthy", r.Stale, r.StaleReason, len(r.Unhealthy()))
	}
	// The discovering host's own cable: only its leaf's links remain.
	var leaf1 []LinkObs
	for _, l := range all {
		if l.A.Node == "leaf01" && l.B.Host {
			leaf1 = append(leaf1, l)
		}
	}
	r = m.Observe(sampleAt(3, leaf1))
	if !r.Stale || len(r.Unhealthy()) != 0 || !strings.Contains(r.StaleReason, "lost 8 of 12") {
		t.Errorf("mass loss believed: stale %v %q, %d unhealthy", r.Stale, r.StaleReason, len(r.Unhealthy()))
	}
}

func TestMonitorExpectedAndForget(t *testing.T) {
	tr := tree{spines: 1, leaves: 1, hosts: 3}
	all := tr.links()
	m := New(Config{Expected: all})
	r := m.Observe(sampleAt(0, without(all, tr.hostLink(3))))
	if n := mustNode(t, r, "node003"); n.Status != NodeUnhealthy || !strings.Contains(n.Reason(), "never seen in a discovery") {
		t.Errorf("expected but missing: %+v", n)
	}
	if !m.Forget(tr.hostLink(3).ID()) || m.Forget(tr.hostLink(3).ID()) {
		t.Error("Forget")
	}
	r = m.Observe(sampleAt(1, without(all, tr.hostLink(3))))
	if _, ok := r.Node("node003"); ok {
		t.Error("forgotten node still reported")
	}
}

func TestMonitorMultiRailNode(t *testing.T) {
	// A host with two HCAs on two leaves: one cable down leaves it
	// usable (degraded), both make it unhealthy.
	tr := tree{spines: 1, leaves: 2, hosts: 1}
	h := tr.host(9)
	r1 := LinkObs{A: at(tr.leaf(1), 5), B: h, Rate: edr4x}
	h2 := h
	h2.Port.GUID++
	r2 := LinkObs{A: at(tr.leaf(2), 5), B: h2, Rate: edr4x}
	all := append(tr.links(), r1, r2)
	m := New(Config{})
	m.Observe(sampleAt(0, all))
	r := m.Observe(sampleAt(1, without(all, r1)))
	n := mustNode(t, r, "node009")
	if n.Status != NodeDegraded || n.Links != 2 || n.Up != 1 || !strings.Contains(n.Reason(), "1 of 2 HCA links up") {
		t.Errorf("one rail down: %+v", n)
	}
	r = m.Observe(sampleAt(2, without(all, r1, r2)))
	if n := mustNode(t, r, "node009"); n.Status != NodeUnhealthy || len(n.Reasons) != 2 {
		t.Errorf("both rails down: %+v", n)
	}
}

func TestMonitorConfirmDown(t *testing.T) {
	tr := tree{spines: 1, leaves: 1, hosts: 2}
	all := tr.links()
	m := New(Config{ConfirmDown: 2})
	m.Observe(sampleAt(0, all))
	r := m.Observe(sampleAt(1, without(all, tr.hostLink(2))))
	if n := mustNode(t, r, "node002"); n.Status != NodeDegraded || !strings.Contains(n.Reason(), "missing from 1 discovery(ies), down after 2") {
		t.Errorf("first miss: %+v", n)
	}
	// A failed discovery in between neither confirms nor clears.
	m.Observe(Sample{Time: t0.Add(time.Minute), DiscoverErr: errors.New("timeout")})
	r = m.Observe(sampleAt(3, without(all, tr.hostLink(2))))
	if n := mustNode(t, r, "node002"); n.Status != NodeUnhealthy {
		t.Errorf("second miss: %+v", n)
	}
	m.Observe(sampleAt(4, all))
	r = m.Observe(sampleAt(5, without(all, tr.hostLink(2))))
	if n := mustNode(t, r, "node002"); n.Status != NodeDegraded {
		t.Errorf("count not reset by a discovery with the link: %+v", n)
	}
}
