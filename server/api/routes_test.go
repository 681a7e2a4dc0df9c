package api

import (
	"context"
	"testing"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// The fabric health report carries the link-isolation routing state even
// where port health is not monitored (--dev with the simulated SM).
func TestHealthCarriesIsolationRoutes(t *testing.T) {
	want := &pb.IsolationRoutes{Jobs: []uint64{7}, Loaded: true, Violations: []string{"leaf02 -> node001: crosses cable"}}
	ts := &topologyService{a: New(Config{Routes: func() *pb.IsolationRoutes { return want }})}
	r, err := ts.Health(context.Background(), &pb.FabricHealthRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r.IsolationRoutes != want || r.Note == "" {
		t.Fatalf("report %+v", r)
	}
	ts = &topologyService{a: New(Config{})}
	if r, _ := ts.Health(context.Background(), &pb.FabricHealthRequest{}); r.IsolationRoutes != nil {
		t.Fatalf("routes without a routing loop: %+v", r.IsolationRoutes)
	}
}
