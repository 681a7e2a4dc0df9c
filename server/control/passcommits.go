package control

import "sync"

// A job pass's own commits (its plan's allocations, the pending reasons)
// are waited for after the pass, not in it: the loop still starts the
// next pass only once they are in, so the next plan sees them, but the
// wait does not count as the pass's cost.
//
// Why: the loop paces its passes by their cost (passGap: three times the
// pass, up to minPass). With the wait for the raft commits inside it, a
// pass that allocated anything measured its commit latency, not its
// work: bench/agentpath's latency probe (64 nodes, 2000 tiny jobs) had
// passes of ~1 ms of work taking ~23 ms on average, the loop at its 50 ms
// cap, and a node whose hand-out check passed waited ~43 ms (p50) for the
// pass that gave it its next job. Waiting for a commit costs no CPU,
// which is what the pacing bounds.

// commitGroup runs a pass's commits side by side; wait waits for all.
// Its zero value is ready to use.
type commitGroup struct{ wg sync.WaitGroup }

// run starts commit f in the background.
func (g *commitGroup) run(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// wait waits for every commit started.
func (g *commitGroup) wait() { g.wg.Wait() }
