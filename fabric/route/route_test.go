package route_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
)

// simFabric is the routing model of an ibsim fat tree with LIDs given
// in a fixed order (the net file has none).
func simFabric(t *testing.T, top ibsim.Topology) *route.Fabric {
	t.Helper()
	nf, err := ibnet.Parse(bytes.NewReader(top.NetFile()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := route.FromIBNet(nf)
	if err != nil {
		t.Fatal(err)
	}
	f.AssignLIDs()
	return f
}

func host(t *testing.T, f *route.Fabric, i int) *route.End {
	t.Helper()
	e := f.End(ibsim.HostPortGUID(i))
	if e == nil {
		t.Fatalf("host %d not in fabric", i)
	}
	return e
}

func job(t *testing.T, f *route.Fabric, id string, hosts []int, links ...string) route.Job {
	t.Helper()
	j := route.Job{ID: id}
	for _, h := range hosts {
		j.Ports = append(j.Ports, ibsim.HostPortGUID(h))
	}
	for _, l := range links {
		c, err := f.ResolveLink(l)
		if err != nil {
			t.Fatal(err)
		}
		j.Cables = append(j.Cables, c)
	}
	return j
}

// spineOf is the spine a route from leaf to e goes up to.
func spineOf(t *testing.T, f *route.Fabric, tb route.Tables, leaf string, e *route.End) string {
	t.Helper()
	p := route.Trace(f, tb, f.SwitchByName(leaf), e)
	if p.Err != "" || len(p.Cables) == 0 {
		t.Fatalf("%s -> %s: %+v", leaf, e.Name, p)
	}
	c := p.Cables[0]
	return f.Switch(c.Switch).Ports[c.Port].Switch.Name
}

func TestComputeIsolatesJob(t *testing.T) {
	// 2 spines, 3 leaves of 2 hosts: full bisection.
	f := simFabric(t, ibsim.Topology{Spines: 2, Leaves: 3, HostsPerLeaf: 2})
	// node001 (leaf01) and node003 (leaf02) hold spine01's cables at both.
	j := job(t, f, "7", []int{1, 3}, "leaf01>spine01", "leaf02>spine01")
	tb, conflicts, err := route.Compute(f, []route.Job{j})
	if err != nil || len(conflicts) > 0 {
		t.Fatal(err, conflicts)
	}
	if v := route.Check(f, []route.Job{j}, tb); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
	// (a) inside the job: both directions over spine01.
	if s := spineOf(t, f, tb, "leaf01", host(t, f, 3)); s != "spine01" {
		t.Errorf("job traffic leaf01 -> node003 goes up to %s", s)
	}
	if s := spineOf(t, f, tb, "leaf02", host(t, f, 1)); s != "spine01" {
		t.Errorf("job traffic leaf02 -> node001 goes up to %s", s)
	}
	// (b) everyone else avoids the held cables: node002 on leaf01 and
	// node004 on leaf02 are reached over spine02 from everywhere.
	for _, leaf := range []string{"leaf02", "leaf03"} {
		if s := spineOf(t, f, tb, leaf, host(t, f, 2)); s != "spine02" {
			t.Errorf("%s -> node002 goes up to %s, over the job's cable", leaf, s)
		}
	}
	for _, leaf := range []string{"leaf01", "leaf03"} {
		if s := spineOf(t, f, tb, leaf, host(t, f, 4)); s != "spine02" {
			t.Errorf("%s -> node004 goes up to %s, over the job's cable", leaf, s)
		}
	}
}

// TestCheckCatchesWrongRouting: tables that ignore the isolation (what
// OpenSM's own routing does, i.e. rule b skipped) and tables with one
// wrong entry are both reported.
func TestCheckCatchesWrongRouting(t *testing.T) {
	f := simFabric(t, ibsim.Topology{Spines: 2, Leaves: 3, HostsPerLeaf: 2})
	j := job(t, f, "7", []int{1, 3}, "leaf01>spine01", "leaf02>spine01")
	plain, _, err := route.Compute(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := route.Check(f, []route.Job{j}, plain)
	if len(v) == 0 {
		t.Fatal("tables computed without the isolated job passed the check")
	}
	if !strings.Contains(v[0].Problem, "held by isolated job 7") && !strings.Contains(v[0].Problem, "does not hold") {
		t.Errorf("violation does not say which job: %v", v[0])
	}

	good, _, _ := route.Compute(f, []route.Job{j})
	// Send node003's traffic from leaf01 up spine02: outside the job's cables.
	leaf01 := f.SwitchByName("leaf01")
	for p, pr := range leaf01.Ports {
		if pr.Switch != nil && pr.Switch.Name == "spine02" {
			good[leaf01.GUID][host(t, f, 3).LID] = uint8(p)
		}
	}
	v = route.Check(f, []route.Job{j}, good)
	if len(v) == 0 {
		t.Fatal("job traffic over spine02 passed the check")
	}
	for _, x := range v {
		if x.From != "leaf01" || x.To != "node003 HCA-1" || !strings.Contains(x.Problem, "which it does not hold") {
			t.Errorf("want rule-(a) violations leaf01 -> node003 only, got %v", x)
		}
	}
	// No route at all is a violation too.
	good[leaf01.GUID][host(t, f, 3).LID] = route.NoPath
	if v := route.Check(f, []route.Job{j}, good); len(v) == 0 || !strings.Contains(v[0].Problem, "no route") {
		t.Fatalf("missing route not reported: %v", v)
	}
}

// TestDistinctPlanesPerLeaf: a job's destinations on one leaf get
// different planes, the same plane from every leaf of the job, on
// parallel cables too.
func TestDistinctPlanesPerLeaf(t *testing.T) {
	// 3 spines with 2 cables from every leaf to each: 6 planes.
	f := simFabric(t, ibsim.Topology{Spines: 3, Leaves: 3, HostsPerLeaf: 4, Uplinks: 2})
	// 3 nodes on leaf01 (hosts 1-3), 1 on leaf02 (5), 2 on leaf03 (9, 10):
	// max share 3, so three planes at each of the three leaves.
	links := []string{}
	for _, l := range []string{"leaf01", "leaf02", "leaf03"} {
		links = append(links, l+">spine01", l+">spine01#2", l+">spine02#2")
	}
	j := job(t, f, "j", []int{1, 2, 3, 5, 9, 10}, links...)
	other := job(t, f, "k", []int{4, 8}, "leaf01>spine02", "leaf02>spine02")
	jobs := []route.Job{j, other}
	tb, conflicts, err := route.Compute(f, jobs)
	if err != nil || len(conflicts) > 0 {
		t.Fatal(err, conflicts)
	}
	if v := route.Check(f, jobs, tb); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
	firstCable := func(leaf string, h int) route.Cable {
		p := route.Trace(f, tb, f.SwitchByName(leaf), host(t, f, h))
		if p.Err != "" {
			t.Fatal(p.Err)
		}
		return p.Cables[0]
	}
	planeAt := func(leaf string, h int) string {
		c := firstCable(leaf, h)
		s, k := f.Switch(c.Switch).Plane(c.Port)
		return s.Name + "#" + string(rune('0'+k))
	}
	seen := map[string]bool{}
	for _, h := range []int{1, 2, 3} {
		p2, p3 := planeAt("leaf02", h), planeAt("leaf03", h)
		if p2 != p3 {
			t.Errorf("node%03d: plane %s from leaf02 but %s from leaf03", h, p2, p3)
		}
		if seen[p2] {
			t.Errorf("two of the job's destinations on leaf01 share plane %s", p2)
		}
		seen[p2] = true
	}
}

// TestConflictWhenLeafFullyHeld: a leaf whose every uplink is held
// cannot reach a free host off-leaf without crossing a held cable:
// route.Compute routes it anyway (connectivity) and says so, and route.Check agrees.
func TestConflictWhenLeafFullyHeld(t *testing.T) {
	f := simFabric(t, ibsim.Topology{Spines: 2, Leaves: 3, HostsPerLeaf: 2})
	j := job(t, f, "big", []int{1, 3}, "leaf01>spine01", "leaf01>spine02", "leaf02>spine01", "leaf02>spine02")
	tb, conflicts, err := route.Compute(f, []route.Job{j})
	if err != nil {
		t.Fatal(err)
	}
	if len(conflicts) == 0 {
		t.Fatal("no conflict reported although leaf01's uplinks are all held")
	}
	v := route.Check(f, []route.Job{j}, tb)
	if len(v) == 0 {
		t.Fatal("route.Check found nothing")
	}
	// Only what cannot be helped: leaving leaf01/leaf02 (every uplink
	// held) or reaching the free ports there (every downlink held).
	for _, x := range v {
		fromFull := x.From == "leaf01" || x.From == "leaf02"
		toFull := x.To == "node002 HCA-1" || x.To == "node004 HCA-1" || x.To == "sm01 HCA-1"
		if !fromFull && !toFull {
			t.Errorf("unexpected violation %v", x)
		}
	}
	// Every host is still reachable from every switch.
	for _, s := range f.Switches {
		for _, e := range f.Ends {
			if e.Switch != s {
				if p := route.Trace(f, tb, s, e); p.Err != "" {
					t.Errorf("%s -> %s: %s", s.Name, e.Name, p.Err)
				}
			}
		}
	}
}

func TestRenderParseRoundTrip(t *testing.T) {
	f := simFabric(t, ibsim.Topology{Spines: 3, Leaves: 4, HostsPerLeaf: 3, Uplinks: 2})
	j := job(t, f, "7", []int{1, 4}, "leaf01>spine03#2", "leaf02>spine03#2")
	tb, _, err := route.Compute(f, []route.Job{j})
	if err != nil {
		t.Fatal(err)
	}
	b := route.Render(f, tb)
	got, err := route.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if d, n := route.Diff(f, tb, got, 5); n != 0 {
		t.Fatalf("%d differences after a round trip: %v\n%s", n, d, b)
	}
	// Every line OpenSM reads is shorter than its 1024-byte buffer.
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) >= 1000 {
			t.Errorf("line of %d bytes", len(l))
		}
	}
}

// TestParseRealDump reads dump_lfts output captured from OpenSM 3.3.23 on
// an ibsim 2x2x2 fat tree (with the tool's deprecation warning in it).
func TestParseRealDump(t *testing.T) {
	b, err := os.ReadFile("testdata/dump_lfts-2x2x2.txt")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := route.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(tb) != 4 {
		t.Fatalf("%d switches, want 4", len(tb))
	}
	// leaf01 (0x...20001, LID 3) sends LID 7 (h0003 on leaf02) out of port 3.
	if p := tb.Port(0x0002c90200020001, 7); p != 3 {
		t.Errorf("leaf01 LID 7: port %d", p)
	}
	if p := tb.Port(0x0002c90200020001, 3); p != 0 {
		t.Errorf("leaf01 own LID: port %d", p)
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"0x0001 001\n", // entry before a header
		"Unicast lids [0x0-0x1] of switch Lid 1 guid 0xzz (x):\n",
		"Unicast lids [0x0-0x1] of switch Lid 1 guid 0x1 (x):\n0x0001 300\n",
		"Unicast lids [0x0-0x1] of switch Lid 1 guid 0x1 (x):\n0xc000 001\n",
		"Unicast lids [0x0-0x1] of switch Lid 1 guid 0x1 (x):\n0x0001 001\n0x0001 002\n",
		"Unicast lids [0x0-0x1] of switch Lid 1 guid 0x1 (x):\nUnicast lids [0x0-0x1] of switch Lid 1 guid 0x1 (x):\n",
		"Unicast lids of switch Lid 1 (x):\n",
	} {
		if _, err := route.Parse(strings.NewReader(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

func TestResolveLink(t *testing.T) {
	f := simFabric(t, ibsim.Topology{Spines: 2, Leaves: 2, HostsPerLeaf: 2, Uplinks: 2})
	c, err := f.ResolveLink("leaf02>spine02#2")
	if err != nil {
		t.Fatal(err)
	}
	// ibsim cables leaf ports HostsPerLeaf+(s-1)*u+k: 2+2+2 = 6.
	if c.Switch != f.SwitchByName("leaf02").GUID || c.Port != 6 {
		t.Errorf("got %v", c)
	}
	for _, bad := range []string{"leaf02", "leaf02>spine09", "leaf02>spine01#3", "leaf02>spine01#x", "leaf09>spine01"} {
		if _, err := f.ResolveLink(bad); err == nil {
			t.Errorf("%q resolved", bad)
		}
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	f := simFabric(t, ibsim.Topology{Spines: 2, Leaves: 2, HostsPerLeaf: 2})
	a := job(t, f, "a", []int{1, 3}, "leaf01>spine01", "leaf02>spine01")
	b := job(t, f, "b", []int{2, 4}, "leaf01>spine01", "leaf02>spine01")
	if _, _, err := route.Compute(f, []route.Job{a, b}); err == nil {
		t.Error("one cable held by two jobs was accepted")
	}
	c := route.Job{ID: "c", Ports: []uint64{0xdead}}
	if _, _, err := route.Compute(f, []route.Job{c}); err == nil {
		t.Error("unknown port accepted")
	}
}
