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
