package agentgw

// PrefetchClean sends the clean stop of a job that ended on every one of
// its nodes (control's watch, stopearly.go) without waiting for the
// agent's evidence: a later Clean of the same job and node finds it in, or
// waits for the task already sent (same id; Dispatch does not send it
// twice on one stream). Nothing is sent when a result is already in.
func (e *Executor) PrefetchClean(jobID uint64, node string) {
	e.mu.Lock()
	delete(e.pending, jobKey{jobID, node}) // the job is over on this node
	e.mu.Unlock()
	id := cleanTaskID(jobID, node)
	select {
	case <-e.gw.jobs.expectResult(id):
		return // in already (a failed one is retried by Clean)
	default:
	}
	e.gw.Dispatch(node, e.stopTask(id, jobID, true))
}

var _ interface{ PrefetchClean(uint64, string) } = (*Executor)(nil)
