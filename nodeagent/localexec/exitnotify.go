package localexec

// OnExit registers f, called (in its own goroutine, without the Runner's
// lock) each time a task this Runner started has been reaped: its wrapper
// has exited, so its exit file, if it wrote one, is in place and Status
// tells the end. Replaces any earlier f; nil turns it off.
//
// Why: the node agent learnt of a job's end only at its next status poll
// (every 100 ms), so a `true` job spent ~50-100 ms "running" after it had
// ended (bench/agentpath's "job started -> job ended" phase). With the
// hook the agent reads the status at once; the poll stays for what the
// Runner did not start itself (jobs adopted after an agent restart).
func (r *Runner) OnExit(f func(jobID uint64, node string)) {
	r.mu.Lock()
	r.onExit = f
	r.mu.Unlock()
}

// exited runs the OnExit hook for a reaped task.
func (r *Runner) exited(jobID uint64, node string) {
	r.mu.Lock()
	f := r.onExit
	r.mu.Unlock()
	if f != nil {
		f(jobID, node)
	}
}

// unreaped reports whether this Runner started the task's process and has
// not reaped it yet: it exists (running, or exited and not yet waited
// for), whatever /proc shows of it at this instant.
//
// Why: alive reads the wrapper's /proc entries and its cgroup, and a
// Status taken while the wrapper starts or ends could find none of them
// and no exit file yet, and said Lost for a job that then exited 0 (a
// stress test polling Status through 800 `true` jobs saw 131 such reads;
// bench/agentpath lost 1-2 jobs in 1,000). Until the reap, the answer is
// Running; the reap (OnExit) is followed by a read that finds the exit
// file, or, if the process really died without one, Lost.
func (r *Runner) unreaped(jobID uint64, node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.children[r.file(jobID, node, "pid")]
	return ok
}
