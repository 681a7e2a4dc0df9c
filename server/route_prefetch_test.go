package server

import (
	"context"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/control"
	"github.com/ibex-hpc/ibex/server/replica"
)

// prefetchingExec is an Executor that records PrefetchClean calls.
type prefetchingExec struct {
	control.Executor
	prefetched []string
}

func (p *prefetchingExec) PrefetchClean(jobID uint64, node string) {
	p.prefetched = append(p.prefetched, node)
}

// The job loop's early stop of an ended job reaches the agents' executor
// through the router, for a node with an agent only.
func TestRoutedExecPassesPrefetchCleanToTheAgents(t *testing.T) {
	store := replica.NewMemory()
	apply := func(cmd fsm.Command) {
		t.Helper()
		if _, err := store.Apply(context.Background(), cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	apply(&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node001", Leaf: "leaf1"}, {Name: "node002", Leaf: "leaf1"}}, Time: store.Now()})
	apply(&fsm.CreateJoinToken{Node: "node001", Hash: "tok", Expires: store.Now().Add(time.Hour)})
	apply(&fsm.Enroll{Node: "node001", TokenHash: "tok", CertSerial: "01", Time: store.Now()})

	agents := &prefetchingExec{}
	var exec control.Executor = routedExec{store: store, agents: agents}
	p, ok := exec.(interface{ PrefetchClean(uint64, string) })
	if !ok {
		t.Fatal("the routed executor hides the agents' PrefetchClean from the job loop")
	}
	p.PrefetchClean(7, "node001")
	p.PrefetchClean(7, "node002") // no agent: its stop is taken when cleaning asks
	if len(agents.prefetched) != 1 || agents.prefetched[0] != "node001" {
		t.Fatalf("prefetched on %v, want node001 only", agents.prefetched)
	}
}
