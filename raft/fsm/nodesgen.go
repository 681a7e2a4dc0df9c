package fsm

import "sync/atomic"

// The nodes generation lets the leader's scheduler keep what it derives
// from the nodes and the jobs holding them (scheduler.NodeCache) from one
// pass to the next: Work reports it, and it changes whenever an applied
// entry may have changed a node or a scheduled or running job. The rule is
// conservative: every entry changes it except the commands listed in
// nodeNeutral, which provably touch only pending jobs (submissions and
// their recorded reasons, the bulk of the traffic on a busy queue). A
// missed change would make the scheduler plan on nodes as they were,
// which the FSM's re-check of each Allocate would catch, but the rule is
// meant to miss none. It is not part of the state, the snapshot or the
// hash: every FSM and every Restore draws fresh values from one
// process-wide counter, so two different states never share one.

var nodesGens atomic.Uint64

func nextNodesGen() uint64 { return nodesGens.Add(1) }

// nodeNeutral reports whether applying cmd leaves every node and every
// job holding nodes as it was.
func nodeNeutral(cmd Command) bool {
	switch c := cmd.(type) {
	case *SubmitJob, *PendingReasons:
		return true
	case *Batch:
		for _, m := range c.Commands {
			if !nodeNeutral(m) {
				return false
			}
		}
		return true
	}
	return false
}
