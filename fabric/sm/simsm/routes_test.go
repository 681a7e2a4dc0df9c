package simsm

import (
	"context"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// twoLeaves is two leaves (one host each) under two spines.
func twoLeaves() *route.Fabric {
	l1 := &route.Switch{GUID: 0x101, Name: "leaf01", Level: 1, Ports: make([]route.Peer, 4)}
	l2 := &route.Switch{GUID: 0x102, Name: "leaf02", Level: 1, Ports: make([]route.Peer, 4)}
	s1 := &route.Switch{GUID: 0x201, Name: "spine01", Level: 2, Ports: make([]route.Peer, 3)}
	s2 := &route.Switch{GUID: 0x202, Name: "spine02", Level: 2, Ports: make([]route.Peer, 3)}
	h1 := &route.End{GUID: 0x11, Name: "node001 HCA-1", Switch: l1, SwitchPort: 1}
	h2 := &route.End{GUID: 0x21, Name: "node002 HCA-1", Switch: l2, SwitchPort: 1}
	l1.Ports[1], l2.Ports[1] = route.Peer{End: h1}, route.Peer{End: h2}
	for i, s := range []*route.Switch{s1, s2} {
		l1.Ports[2+i] = route.Peer{Switch: s, Port: 1}
		l2.Ports[2+i] = route.Peer{Switch: s, Port: 2}
		s.Ports[1] = route.Peer{Switch: l1, Port: 2 + i}
		s.Ports[2] = route.Peer{Switch: l2, Port: 2 + i}
	}
	f, err := route.New([]*route.Switch{l1, l2, s1, s2}, []*route.End{h1, h2})
	if err != nil {
		panic(err)
	}
	f.AssignLIDs()
	return f
}

// The simulated SM records what it is asked to load and hands back its
// own routing on nil; tables that do not connect the fabric are refused.
func TestRoutedRecordsTables(t *testing.T) {
	f := twoLeaves()
	r, err := NewRouted(New([]sm.GUID{0x11, 0x21}, sm.TenantIsolation), f)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, _ := f.ResolveLink("leaf01>spine02")
	d, _ := f.ResolveLink("leaf02>spine02")
	jobs := []route.Job{{ID: "1", Ports: []uint64{0x11, 0x21}, Cables: []route.Cable{c, d}}}
	want, _, err := route.Compute(f, jobs)
	if err != nil {
		t.Fatal(err)
	}
	back, err := r.ApplyRoutes(ctx, f, want)
	if err != nil {
		t.Fatal(err)
	}
	if diffs, n := route.Diff(f, want, back, 3); n > 0 {
		t.Fatalf("returned tables differ: %v", diffs)
	}
	got, _ := r.ObserveRoutes(ctx)
	if diffs, n := route.Diff(f, want, got, 3); n > 0 {
		t.Fatalf("recorded tables differ: %v", diffs)
	}
	if v := route.Check(f, jobs, got); len(v) > 0 {
		t.Fatal(v)
	}
	if n, own := r.Loads(); n != 1 || own {
		t.Fatalf("loads %d own %v", n, own)
	}
	broken := route.Tables{}
	for g, l := range want {
		broken[g] = append(route.LFT(nil), l...)
	}
	broken[0x101][f.End(0x21).LID] = route.NoPath
	if _, err := r.ApplyRoutes(ctx, f, broken); err == nil {
		t.Fatal("tables without a route to node002 were loaded")
	}
	if _, err := r.ApplyRoutes(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if n, own := r.Loads(); n != 2 || !own {
		t.Fatalf("after nil: loads %d own %v", n, own)
	}
}
