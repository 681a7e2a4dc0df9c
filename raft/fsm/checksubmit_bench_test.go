package fsm

import (
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// BenchmarkCheckSubmit is the state's verdict on a 4-node submission, which
// the API and the FSM each take once per submission, on a 100,000-node
// fabric: as it is (clusterHas stops counting at 4), against counting the
// whole cluster first (ClusterSize, what it did before), in the same run.
//
//	go test ./raft/fsm -run '^$' -bench CheckSubmit
func BenchmarkCheckSubmit(b *testing.B) {
	f := harness(b, 100_000)
	s := f.View()
	job := &model.Job{Tenant: "alice", NumNodes: 4, TimeLimit: time.Minute, Argv: []string{"true"}}
	b.Run("as-is", func(b *testing.B) {
		for b.Loop() {
			if err := s.CheckSubmit(job); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=count-all", func(b *testing.B) {
		for b.Loop() {
			if s.ClusterSize() < job.NumNodes {
				b.Fatal("cluster too small")
			}
			if err := s.CheckSubmit(job); err != nil {
				b.Fatal(err)
			}
		}
	})
}
