package agent

// poke wakes the job watcher for a pass now, without blocking: one
// pending wake stands for any number of exits, since a pass reads every
// running job.
func (m *jobManager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// reaped is the runner's word (localexec.Runner.OnExit) that job id's
// process was reaped: its end is journalled and reported at once instead
// of at the next jobPoll tick. A job still being recorded as started is
// marked, and launch wakes the watcher once it recorded the job running.
//
// Only a reaped process wakes the watcher early: a status read right
// after the start could land while the job's wrapper is still being
// exec'd into its cgroup, where /proc does not yet show it as the job's,
// and a live job would be judged lost (bench/agentpath saw 1-2 in 1,000
// when launch itself woke the watcher). After the reap the exit file is
// in place, so the read finds the exit status.
func (m *jobManager) reaped(id uint64) {
	m.mu.Lock()
	if e := m.jobs[id]; e != nil && (e.rec.State == jobAccepted || e.rec.State == jobStarting) {
		e.reaped = true
	}
	m.mu.Unlock()
	m.poke()
}
