package server

// PrefetchClean passes the job loop's early stop of a job that ended on
// every node (control/stopearly.go) on to the agents' executor, for nodes
// with an agent; a local node's stop is taken as before, when its
// cleaning asks for it.
//
// Why: without it the job loop, which sees only this router, never found
// the agents' PrefetchClean, and every tiny job's stop waited for its
// FinishJob commit before it was even sent: a full agent round trip added
// to bench/agentpath's "job ended -> stop done" phase.
func (r routedExec) PrefetchClean(jobID uint64, node string) {
	p, ok := r.agents.(interface{ PrefetchClean(uint64, string) })
	if ok && hasAgent(r.store, node) {
		p.PrefetchClean(jobID, node)
	}
}
