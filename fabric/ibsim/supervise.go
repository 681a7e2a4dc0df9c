package ibsim

import (
	"context"
	"time"
)

// Supervision of the OpenSM a Fabric runs: the process ibexd relies on
// for every tenant's partition must not stay dead because it crashed or
// was killed. Supervise restarts it with a growing back-off; a deliberate
// StopSM is left alone. (An OpenSM outliving its parent is the opposite
// failure; dieWithParent prevents it.)

// Supervision back-off: first restart after smBackoffMin, doubling up to
// smBackoffMax; a run of smStableRun resets it.
const (
	smBackoffMin = time.Second
	smBackoffMax = 30 * time.Second
	smStableRun  = time.Minute
)

// Supervise watches opensm until ctx ends and restarts it whenever it
// exits without StopSM. logf receives one line per exit and restart.
func (f *Fabric) Supervise(ctx context.Context, logf func(format string, args ...any)) {
	backoff := smBackoffMin
	for {
		f.smMu.Lock()
		p := f.sm
		f.smMu.Unlock()
		if p == nil { // stopped on purpose, or not started yet
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		started := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-p.done:
		}
		f.smMu.Lock()
		current := f.sm == p
		f.smMu.Unlock()
		if !current {
			continue // StopSM or RestartSM replaced it
		}
		if time.Since(started) > smStableRun {
			backoff = smBackoffMin
		}
		// A killed opensm keeps its ibsim client slot; free it, or a few
		// crashes use up ibsim's ten.
		f.freeSlotOf(p.cmd.Process.Pid)
		logf("opensm (pid %d) exited: %v; restarting it in %s", p.cmd.Process.Pid, p.err, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, smBackoffMax)
		f.smMu.Lock()
		current = f.sm == p
		f.smMu.Unlock()
		if !current {
			continue
		}
		if err := f.StartSM(ctx); err != nil {
			logf("opensm restart failed: %v; trying again in %s", err, backoff)
			continue
		}
		f.restarts.Add(1)
		logf("opensm restarted (pid %d)", f.SMPID())
	}
}

// SMRestarts counts the restarts Supervise made.
func (f *Fabric) SMRestarts() int64 { return f.restarts.Load() }

// SimPID is ibsim's pid.
func (f *Fabric) SimPID() int {
	if f.sim == nil {
		return 0
	}
	return f.sim.cmd.Process.Pid
}
