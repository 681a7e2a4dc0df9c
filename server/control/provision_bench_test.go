package control

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// seedCyclesPerSecond is the seed's reference provider: 60,000
// provisioning cycles a month (30 days).
const seedCyclesPerSecond = 60000.0 / (30 * 24 * 3600)

// BenchmarkProvisionCycles measures the orchestration throughput of
// provisioning cycles on 512 nodes whose hardware takes no time: every BMC
// is a bmc.Fake, every agent answers its task and checks in at once, every
// job exits as soon as it starts. One cycle is one node's deploy, job and
// cleaning, back to available; each round runs one cycle on every node
// (512 one-node jobs). What is measured is therefore ibex alone: the
// leader's loops (scheduling, deployment steps, cleaning steps) and the
// state machine (every command applied to a real FSM, without raft's
// commit latency, which replica.Memory leaves out).
//
//   - rewrite: each job asks for an image the nodes do not carry, so every
//     deployment power-cycles into the ramdisk, writes and verifies the
//     image, boots to disk and checks in, and every cleaning erases and
//     writes the cluster's image back;
//   - skip: jobs run the image clean nodes carry, so deployments skip the
//     rewrite and cleaning only erases, checks firmware and writes the
//     image.
//
// go test ./server/control -run '^$' -bench ProvisionCycles -benchtime 3x
func BenchmarkProvisionCycles(b *testing.B) {
	for _, tc := range []struct {
		name, image string
	}{{"rewrite", "alma:8"}, {"skip", testImage}} {
		b.Run(tc.name, func(b *testing.B) {
			const leaves, perLeaf = 16, 32
			h := newProvHarness(b, leaves, perLeaf, func(c *Config) { c.DefaultImage = testImage })
			for _, n := range h.nodes {
				h.enrollAgent(n)
				h.setBMC(n)
			}
			h.settle()
			for _, n := range h.nodes {
				if p := h.node(n).ProvisionState(); p != model.ProvAvailable {
					b.Fatalf("%s is %s before the benchmark", n, p)
				}
			}
			h.store.Applied()
			ctx := context.Background()
			b.ResetTimer()
			start, rounds, commands := time.Now(), 0, 0
			for range b.N {
				var ids []uint64
				for range h.nodes {
					ids = append(ids, h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour,
						Argv: []string{"true"}, Image: tc.image}, Time: h.store.Now()}).(uint64))
				}
				for done := false; !done; rounds++ {
					if rounds > 100*(b.N+1) {
						b.Fatalf("cycles do not finish: %s", h)
					}
					h.store.Advance(time.Second)
					h.loops.jobs.reconcile(ctx)
					h.loops.jobs.steps.wait()
					h.provPass()
					h.agentsWork()
					h.checkIns()
					h.exitStarted()
					done = h.roundDone(ids)
				}
				commands += len(h.store.Applied())
			}
			el := time.Since(start)
			cycles := float64(b.N * len(h.nodes))
			b.ReportMetric(cycles/el.Seconds(), "cycles/s")
			b.ReportMetric(cycles/el.Seconds()/seedCyclesPerSecond, "x-seed")
			b.ReportMetric(float64(el.Microseconds())/cycles, "µs/cycle")
			b.ReportMetric(float64(commands)/cycles, "commands/cycle")
			b.ReportMetric(float64(rounds)/float64(b.N), "passes/round")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// exitStarted makes every started process exit 0 at once.
func (h *provHarness) exitStarted() {
	h.exec.mu.Lock()
	defer h.exec.mu.Unlock()
	for k, st := range h.exec.phase {
		if st.Phase == Running {
			h.exec.phase[k] = Status{Phase: Exited}
		}
	}
}

// roundDone reports whether every job of the round ended and every node
// is available again.
func (h *provHarness) roundDone(ids []uint64) bool {
	done := true
	h.store.Read(func(st *fsm.State) {
		for _, id := range ids {
			if j := st.Jobs[id]; j == nil || !j.State.Terminal() {
				done = false
				return
			}
			if st.Jobs[id].State != model.JobCompleted {
				panic(fmt.Sprintf("job %d %s: %s", id, st.Jobs[id].State, st.Jobs[id].Reason))
			}
		}
		for _, n := range st.Nodes {
			if n.ProvisionState() != model.ProvAvailable {
				done = false
				return
			}
		}
	})
	return done
}
