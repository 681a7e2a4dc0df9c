package route_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
)

// TestMultiLIDPorts: with LMC 1 every port has two LIDs, and every
// switch routes both: a job holding two planes reaches its node's two
// LIDs over its two planes (the multipath LMC is for, inside its
// cables), everyone else reaches every LID off them, and a table that
// routes only the base LIDs fails the check.
func TestMultiLIDPorts(t *testing.T) {
	f := simFabric(t, ibsim.Topology{Spines: 3, Leaves: 3, HostsPerLeaf: 2})
	for _, e := range f.Ends {
		e.LMC = 1
	}
	f.AssignLIDs()
	if err := f.CheckLIDs(); err != nil {
		t.Fatal(err)
	}
	j := job(t, f, "1", []int{1, 3}, "leaf01>spine01", "leaf01>spine02", "leaf02>spine01", "leaf02>spine02")
	jobs := []route.Job{j}
	tb, conflicts, err := route.Compute(f, jobs)
	if err != nil || len(conflicts) > 0 {
		t.Fatal(err, conflicts)
	}
	if v := route.Check(f, jobs, tb); len(v) > 0 {
		t.Fatalf("%d violations, e.g. %v", len(v), v[0])
	}
	up := func(from string, e *route.End, lid uint16) string {
		p := route.TraceLID(f, tb, f.SwitchByName(from), e, lid)
		if p.Err != "" || len(p.Cables) == 0 {
			t.Fatalf("%s -> %s LID %d: %+v", from, e.Name, lid, p)
		}
		c := p.Cables[0]
		return f.Switch(c.Switch).Ports[c.Port].Switch.Name
	}
	d := host(t, f, 3)
	if len(d.LIDs()) != 2 {
		t.Fatalf("LIDs %v", d.LIDs())
	}
	a, b := up("leaf01", d, d.LID), up("leaf01", d, d.LID+1)
	if a == b || (a != "spine01" && a != "spine02") || (b != "spine01" && b != "spine02") {
		t.Errorf("the job's two LIDs of node003 go up to %s and %s, want spine01 and spine02", a, b)
	}
	for _, h := range []int{4, 5, 6} {
		e := host(t, f, h)
		for _, lid := range e.LIDs() {
			if s := up("leaf01", e, lid); s != "spine03" {
				t.Errorf("traffic to node%03d LID %d goes up to %s, over the job's cable", h, lid, s)
			}
		}
	}
	// Only the base LIDs routed: the further ones have no route.
	base := route.Tables{}
	for g, l := range tb {
		c := append(route.LFT(nil), l...)
		for _, e := range f.Ends {
			if e.Switch.GUID != g {
				c[e.LID+1] = route.NoPath
			}
		}
		base[g] = c
	}
	if v := route.Check(f, jobs, base); len(v) == 0 {
		t.Fatal("tables without the second LIDs passed the check")
	}
	// A range OpenSM would never give (not aligned to 2^LMC) is refused
	// rather than routed half.
	d.LID++
	if err := f.CheckLIDs(); err == nil || !strings.Contains(err.Error(), "LMC 1") {
		t.Errorf("misaligned LID range: %v", err)
	}
	d.LID--
	back, err := route.Parse(bytesReader(route.Render(f, tb)))
	if err != nil {
		t.Fatal(err)
	}
	if diffs, n := route.Diff(f, tb, back, 3); n > 0 {
		t.Fatalf("rendered tables differ: %v", diffs)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
