package agentgw

// JobsEnded is signalled (at most one signal pending) whenever an agent
// reports that a job's process ended. The job loop passes on it: without
// it a finished job waited for the next state change or tick before its
// watch saw the exit (bench/agentpath's "job started -> job ended" phase).
func (e *Executor) JobsEnded() <-chan struct{} { return e.gw.jobs.ended }

// notifyEnded signals JobsEnded without blocking: one pending signal
// stands for any number of reports, since a pass reads them all.
func (c *jobCache) notifyEnded() {
	select {
	case c.ended <- struct{}{}:
	default:
	}
}

// OnJobEnded registers f, called with the node and job of every report
// that a job's process ended on that node, as the report comes in (f must
// not block: the agent's stream waits for it). The job loop starts the
// job's watch with it instead of waiting for a pass (control/fastpath.go).
// Replaces any earlier f; nil turns it off.
func (e *Executor) OnJobEnded(f func(node string, job uint64)) {
	c := e.gw.jobs
	c.mu.Lock()
	c.onEnded = f
	c.mu.Unlock()
}

// endedHook calls the OnJobEnded hook, if any, without c.mu held.
func (c *jobCache) endedHook(node string, job uint64) {
	c.mu.Lock()
	f := c.onEnded
	c.mu.Unlock()
	if f != nil {
		f(node, job)
	}
}
