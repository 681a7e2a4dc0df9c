package control

import "github.com/ibex-hpc/ibex/model"

// The stop of a job that ended, sent as the job is found ended rather
// than after its FinishJob commits.
//
// Why: bench/agentpath's phase table showed "job ended -> stop done" at
// 0.1-0.5 s of a tiny job's node cycle (64 and 512 simulated nodes): the
// FinishJob commit, the cleaning chain's start, then a full round trip to
// the agent for the stop's evidence, then the JobStopped commit, one after
// another. The agent's part needs nothing of the commit, so it is asked
// for when the watch has seen the job's process exit on every node, and
// runs while FinishJob commits; the chain's Clean then finds the evidence
// in, or in flight (the same task id: the gateway does not send it twice).
//
// What does not change: the stop is the same task with the same evidence,
// asked for only once the job is over on all of its nodes (every node
// reported its exit, so nothing of the job is meant to run any more), and
// the chain still records it (fsm.JobStopped) before any hygiene step, in
// the same order. A job that ends any other way (time limit, a lost or
// refused node) is stopped as before.

// cleanPrefetcher is implemented by executors that can start a job's stop
// without waiting for its evidence (agentgw.Executor).
type cleanPrefetcher interface {
	PrefetchClean(jobID uint64, node string)
}

// prefetchStops starts the stop of j on each of its agent nodes, in the
// background; j exited on every node.
func (c *jobController) prefetchStops(j *model.Job) {
	p, ok := c.cfg.Exec.(cleanPrefetcher)
	if !ok || c.cfg.Agents == nil {
		return
	}
	for _, node := range j.Nodes {
		go p.PrefetchClean(j.ID, node)
	}
}
