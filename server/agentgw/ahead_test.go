package agentgw

import (
	"testing"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// A task sent ahead of its record is run by the agent at once, and its
// result waits at the gateway until the record's commit returned; then it
// is committed.
func TestResultOfATaskSentAheadWaitsForItsRecord(t *testing.T) {
	c := startAgentCluster(t)
	done := make(chan string, 4)
	c.store.Fail(func(cmd fsm.Command) error {
		if d, ok := cmd.(*fsm.TaskDone); ok {
			done <- d.TaskID
		}
		return nil
	})
	const id = testNode + "/0/erase/1"
	task := &pb.AgentTask{Id: id, Term: c.store.Term(), Kind: &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}}
	connected, recorded := c.gw.DispatchAhead(testNode, task)
	if !connected {
		t.Fatal("the agent is not connected")
	}
	waitFor(t, "the agent's result at the gateway", func() bool { return c.gw.gates.held.Load() == 1 })
	select {
	case got := <-done:
		t.Fatalf("result of %s committed before its record returned", got)
	default:
	}
	recorded()
	waitFor(t, "the result's commit once recorded", func() bool {
		select {
		case got := <-done:
			return got == id
		default:
			return false
		}
	})
}
