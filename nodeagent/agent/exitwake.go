package agent

// poke wakes the job watcher for a pass now, without blocking: one
// pending wake stands for any number of exits, since a pass reads every
// running job. The runner calls it when it reaped a job's process
// (localexec.Runner.OnExit), so the job's end is journalled and reported
// at once instead of at the next jobPoll tick; launch calls it after it
// recorded a job running, since the process may have ended (and its exit
// hook found the job still "starting") in between.
func (m *jobManager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}
