// Package state benchmarks the replicated state as finished jobs pile up,
// with and without retention (fsm.ExpireRecords):
//
//	go test ./bench/state -run '^$' -bench . -benchtime 1x
//
// Each case applies N finished jobs to an FSM directly (no raft, no disk),
// each through its whole life: submit (with a request id), allocate,
// start, finish, and an agent cleaning of its node (erase and firmware
// tasks, then "cleaned": three ledger entries per job). With retention
// the harness proposes what ibexd's leader would: every 1000 jobs, expiries
// of what ended more than the retention period ago, with the leader's
// limit per apply (fsm.ExpiryLimit). It prints, per case, the live jobs and ledger entries, the
// snapshot's size, the time to encode it (raft's Persist) and the live
// heap after a GC. -short skips the million-job cases.
package state

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

const (
	nodes       = 64
	jobEvery    = 10 * time.Second // simulated time between job ends
	retention   = 6 * time.Hour    // 2160 jobs' worth
	expireEvery = 1000             // jobs between expiry passes
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var header sync.Once

func BenchmarkState(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		for _, keep := range []bool{false, true} {
			mode := "off"
			if keep {
				mode = "on"
			}
			b.Run(fmt.Sprintf("jobs=%d/retention=%s", n, mode), func(b *testing.B) {
				if testing.Short() && n > 100_000 {
					b.Skip("-short")
				}
				for range b.N {
					run(b, n, keep)
				}
			})
		}
	}
}

func apply(b *testing.B, f *fsm.FSM, c fsm.Command) any {
	r := f.Apply(c)
	if r.Err != nil {
		b.Fatalf("%T: %v", c, r.Err)
	}
	return r.Value
}

// expire does what ibexd's leader does on each retention tick: count the
// backlog, pick the limit, and propose expiries until none is due. It
// returns the number of applies, the longest and the total apply time.
func expire(b *testing.B, f *fsm.FSM, before time.Time) (n int, longest, total time.Duration) {
	var jobs, ledger int
	f.Read(func(s *fsm.State) { jobs, ledger = s.ExpiryBacklog(before) })
	limit := fsm.ExpiryLimit(jobs, ledger)
	for more := jobs+ledger > 0; more; n++ {
		t := time.Now()
		more = apply(b, f, &fsm.ExpireRecords{Before: before, Limit: limit}).(*fsm.Expired).More
		d := time.Since(t)
		total += d
		longest = max(longest, d)
	}
	return n, longest, total
}

// populate applies n finished jobs to a new FSM, expiring as the leader
// would when keep is set.
func populate(b *testing.B, n int, keep bool) *fsm.FSM {
	return populateOn(b, nodes, n, keep)
}

// populateOn is populate on a fabric of the given number of nodes (leaves
// of 16), every node enrolled and cleaned once.
func populateOn(b *testing.B, fabric, n int, keep bool) *fsm.FSM {
	f := fsm.New()
	var specs []fsm.NodeSpec
	for i := range fabric {
		specs = append(specs, fsm.NodeSpec{Name: fmt.Sprintf("node%03d", i+1), Leaf: fmt.Sprintf("leaf%02d", i/16+1)})
	}
	apply(b, f, &fsm.RegisterNodes{Nodes: specs, Time: t0})
	apply(b, f, &fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}})
	task := 0
	clean := func(node string, job uint64, at time.Time) {
		for _, kind := range (model.CleaningPolicy{}).Steps() {
			task++
			id := fmt.Sprintf("%s/%d/%s/%d", node, job, kind, task)
			apply(b, f, &fsm.StartTask{Node: node, Task: model.NodeTask{ID: id, Kind: kind, Started: at}})
			ev := `{"device":"/dev/nvme0n1","method":"nvme-format","bytes":3840755982336,"seconds":41,"verified_zero_samples":4096}`
			if kind == model.TaskFirmware {
				ev = `{"hca":"mlx5_0","psid":"MT_0000000222","version":"28.39.1002","sha256":"9f2c4e0d5b","action":"none"}`
			}
			apply(b, f, &fsm.TaskDone{Node: node, TaskID: id, OK: true, Evidence: ev, Time: at})
		}
		apply(b, f, &fsm.NodeCleaned{Node: node, JobID: job, Time: at,
			Evidence: "steps erase, firmware recorded in the ledger; partition key 0x1a2b gone from 1 port"})
	}
	for _, s := range specs { // enroll agents: each node is cleaned first
		apply(b, f, &fsm.CreateJoinToken{Node: s.Name, Hash: "t-" + s.Name, Expires: t0.Add(time.Hour)})
		apply(b, f, &fsm.Enroll{Node: s.Name, TokenHash: "t-" + s.Name, CertSerial: "serial-" + s.Name, Time: t0})
		clean(s.Name, 0, t0)
	}

	zero := 0
	for i := range n {
		end := t0.Add(time.Duration(i+1) * jobEvery)
		node := specs[i%fabric].Name
		job := model.Job{Name: fmt.Sprintf("run-%d", i), Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour,
			Argv: []string{"./simulate", "--input", fmt.Sprintf("data/run-%d.h5", i), "--steps", "1000"}, RequestID: fmt.Sprintf("req-%d", i)}
		id := apply(b, f, &fsm.SubmitJob{Job: job, Time: end.Add(-jobEvery)}).(uint64)
		apply(b, f, &fsm.Allocate{JobID: id, Nodes: []string{node}, Time: end.Add(-jobEvery)})
		apply(b, f, &fsm.StartJob{JobID: id, Time: end.Add(-jobEvery)})
		apply(b, f, &fsm.FinishJob{JobID: id, State: model.JobCompleted, ExitCode: &zero, Time: end})
		clean(node, id, end)
		if keep && (i+1)%expireEvery == 0 {
			expire(b, f, end.Add(-retention))
		}
	}
	return f
}

func run(b *testing.B, n int, keep bool) {
	runOn(b, nodes, n, keep, false)
}

// runOn populates and measures; wide prints the fabric size too
// (BenchmarkStateNodes).
func runOn(b *testing.B, fabric, n int, keep, wide bool) {
	runtime.GC()
	start := time.Now()
	f := populateOn(b, fabric, n, keep)
	applyTime := time.Since(start)

	var live, ledger int
	f.Read(func(s *fsm.State) {
		live = len(s.Jobs)
		for _, l := range s.Ledger {
			ledger += len(l)
		}
	})
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapAlloc) / (1 << 20)

	t := time.Now()
	st := f.SnapshotState()
	clone := time.Since(t)
	var w countingWriter
	t = time.Now()
	if err := fsm.WriteSnapshot(io.Writer(&w), st); err != nil {
		b.Fatal(err)
	}
	persist := time.Since(t)
	runtime.KeepAlive(f)

	b.ReportMetric(float64(live), "live_jobs")
	b.ReportMetric(float64(ledger), "ledger_entries")
	b.ReportMetric(float64(w.n), "snapshot_B")
	b.ReportMetric(float64(persist.Milliseconds()), "persist_ms")
	b.ReportMetric(heap, "heap_MB")
	if wide {
		printWide(fabric, n, keep, live, ledger, w.n, persist, clone, heap, applyTime)
		return
	}
	header.Do(func() {
		fmt.Printf("%-9s %-9s %9s %9s %12s %10s %8s %9s %8s\n", "jobs", "retention", "live_jobs", "ledger", "snapshot_MB", "persist_ms", "clone_ms", "heap_MB", "apply_s")
	})
	mode := "off"
	if keep {
		mode = "on"
	}
	fmt.Printf("%-9d %-9s %9d %9d %12.1f %10d %8d %9.1f %8.1f\n", n, mode, live, ledger, float64(w.n)/(1<<20),
		persist.Milliseconds(), clone.Milliseconds(), heap, applyTime.Seconds())
}

// BenchmarkBacklog turns retention on over a state that never had it (the
// first start with --job-retention on a busy cluster): the leader drains
// the backlog in applies limited by fsm.ExpiryLimit. It prints how many
// applies that took and the longest one (the FSM lock is held that long).
func BenchmarkBacklog(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			for range b.N {
				f := populate(b, n, false)
				batches, longest, total := expire(b, f, t0.Add(time.Duration(n)*jobEvery-retention))
				var live int
				f.Read(func(s *fsm.State) { live = len(s.Jobs) })
				b.ReportMetric(float64(batches), "applies")
				b.ReportMetric(float64(longest.Microseconds())/1000, "longest_apply_ms")
				fmt.Printf("backlog: %d finished jobs drained to %d live in %d applies, %.1f s in all, longest %.1f ms\n",
					n, live, batches, total.Seconds(), float64(longest.Microseconds())/1000)
			}
		})
	}
}
