package route_test

import (
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/topology"
)

// TestGeneratedTreeNamesResolve: on a generated fat tree of 120 leaves
// and 100 spines (three-digit names), every cable the scheduler's tree
// of that fat tree names (topology.FatTree.LeafName>SpineName) is found
// in the simulated fabric of the same shape, at the right switches; and
// a job from the first leaf to the last, holding spine100's cables, is
// routed over them, with every other route off them.
func TestGeneratedTreeNamesResolve(t *testing.T) {
	ft := topology.FatTree{Spines: 100, Leaves: 120, NodesPerLeaf: 1}
	f := simFabric(t, ibsim.Topology{Spines: ft.Spines, Leaves: ft.Leaves, HostsPerLeaf: ft.NodesPerLeaf})
	for l := 1; l <= ft.Leaves; l++ {
		for s := 1; s <= ft.Spines; s++ {
			name := ft.LeafName(l) + ">" + ft.SpineName(s)
			c, err := f.ResolveLink(name)
			if err != nil {
				t.Fatal(err)
			}
			if c.Switch != ibsim.LeafGUID(l) || f.Switch(c.Switch).Ports[c.Port].Switch.GUID != ibsim.SpineGUID(s) {
				t.Fatalf("%s resolved to %v", name, c)
			}
		}
	}
	last := ft.LeafName(ft.Leaves)
	j := job(t, f, "1", []int{1, ft.Leaves}, "leaf001>spine100", last+">spine100")
	tb, conflicts, err := route.Compute(f, []route.Job{j})
	if err != nil || len(conflicts) > 0 {
		t.Fatal(err, conflicts)
	}
	if v := route.Check(f, []route.Job{j}, tb); len(v) > 0 {
		t.Fatalf("%d violations, e.g. %v", len(v), v[0])
	}
	if s := spineOf(t, f, tb, "leaf001", host(t, f, ft.Leaves)); s != "spine100" {
		t.Errorf("job traffic goes up to %s", s)
	}
	for _, h := range []int{2, 50, 119} {
		if s := spineOf(t, f, tb, "leaf001", host(t, f, h)); s == "spine100" {
			t.Errorf("traffic to node%03d crosses the job's cable", h)
		}
	}
	if _, err := f.ResolveLink("leaf01>spine01"); err == nil {
		t.Errorf("a two-digit name resolved on a %d-leaf tree", ft.Leaves)
	}
}
