package api

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// What one API submission costs in process, through gRPC, the
// interceptors and the handler, over the in-memory replica:
//
//	go test ./server/api -run '^$' -bench SubmitPath -benchmem
func BenchmarkSubmitPath(b *testing.B) {
	h := newAPIHarness(b, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	ctx := h.ctx()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := h.jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour), Interactive: true,
			RequestId: fmt.Sprintf("b%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}
