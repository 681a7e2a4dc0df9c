package opensm

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/route"
)

// TestFabricLinkIsolationRoutesLMC: OpenSM with lmc 1 gives every CA
// port two LIDs, and its own minhop routes the second over another
// spine. ibex's tables route both LIDs of every port: the job's node
// over the job's two planes, everyone else off them; OpenSM's file
// engine loads them all (the read-back equals what was written) and the
// check of what the switches hold passes.
func TestFabricLinkIsolationRoutesLMC(t *testing.T) {
	f, d := startRoutedFabricLMC(t, ibsim.Topology{Spines: 3, Leaves: 3, HostsPerLeaf: 2}, 1)
	ctx := context.Background()
	rf, err := d.RouteFabric(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := rf.End(ibsim.HostPortGUID(3))
	if e == nil || e.LMC != 1 {
		t.Fatalf("node003's port as discovered: %+v (want lmc 1)", e)
	}
	job := route.Job{ID: "7", Ports: []uint64{ibsim.HostPortGUID(1), ibsim.HostPortGUID(3)}}
	for _, l := range []string{"leaf01>spine01", "leaf01>spine02", "leaf02>spine01", "leaf02>spine02"} {
		c, err := rf.ResolveLink(l)
		if err != nil {
			t.Fatal(err)
		}
		job.Cables = append(job.Cables, c)
	}
	jobs := []route.Job{job}
	own, err := d.ObserveRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := route.Check(rf, jobs, own); len(v) == 0 {
		t.Error("minhop respected the held cables; the fabric no longer shows the problem")
	}
	tables, conflicts, err := route.Compute(rf, jobs)
	if err != nil || len(conflicts) > 0 {
		t.Fatal(err, conflicts)
	}
	got, err := d.ApplyRoutes(ctx, rf, tables)
	if err != nil {
		t.Fatal(err)
	}
	if v := route.Check(rf, jobs, got); len(v) > 0 {
		t.Fatalf("switches' tables violate the isolation: %v", first(v))
	}
	if _, n := route.Diff(rf, tables, got, 1); n > 0 {
		t.Fatal("read back differs from what was written")
	}
	log, _ := os.ReadFile(f.OpenSMLog)
	if !strings.Contains(string(log), "file tables configured on all switches") {
		t.Error("OpenSM's log does not say it loaded the file")
	}
	leaf01 := rf.SwitchByName("leaf01")
	ups := map[string]bool{}
	for _, lid := range e.LIDs() {
		p := route.TraceLID(rf, got, leaf01, e, lid)
		if p.Err != "" || len(p.Cables) == 0 {
			t.Fatalf("leaf01 -> node003 LID %d: %+v", lid, p)
		}
		ups[rf.Switch(p.Cables[0].Switch).Ports[p.Cables[0].Port].Switch.Name] = true
	}
	if !ups["spine01"] || !ups["spine02"] {
		t.Errorf("node003's two LIDs are reached from leaf01 via %v, want the job's spine01 and spine02", ups)
	}
}
