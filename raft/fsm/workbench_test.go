package fsm

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// BenchmarkWork measures Work as the leader calls it: per nodes generation
// the job controller asks for the queue's head (depth 1000) and six other
// loops and the API ask for the nodes (depth 0). "same-generation" is a
// round between entries that leave the nodes alone (submissions, reasons:
// the bulk of a busy queue); "new-generation" applies a drain first.
// Pending jobs carry an argv and an exported environment the size of an
// sbatch --export=ALL. The file uses only what the FSM had before Work
// shared its copies, so it runs unchanged against that version too.
func BenchmarkWork(b *testing.B) {
	for _, nodes := range []int{32, 100000} {
		f := workBenchFSM(b, nodes, 1000)
		for _, changed := range []bool{false, true} {
			name := fmt.Sprintf("nodes=%d/same-generation", nodes)
			if changed {
				name = fmt.Sprintf("nodes=%d/new-generation", nodes)
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				drained := false
				for b.Loop() {
					if changed {
						var cmd Command = &DrainNode{Node: "node000001", Reason: "bench", By: "bench", Time: t0}
						if drained {
							cmd = &UndrainNode{Node: "node000001", By: "bench", Time: t0}
						}
						if r := f.Apply(cmd); r.Err != nil {
							b.Fatal(r.Err)
						}
						drained = !drained
					}
					if w := f.Work(1000); len(w.Pending) != 1000 || len(w.Nodes) != nodes {
						b.Fatalf("work: %d pending, %d nodes", len(w.Pending), len(w.Nodes))
					}
					for range 7 {
						f.Work(0)
					}
				}
			})
		}
	}
}

// workBenchFSM restores a state of n ready nodes, a quarter of them held
// by running jobs of 8, and pending jobs, as a new leader has it.
func workBenchFSM(b *testing.B, n, pending int) *FSM {
	b.Helper()
	st := NewState()
	st.Tenants["alice"] = &model.Tenant{Name: "alice", TokenHash: "a"}
	id := uint64(1)
	var run *model.Job
	for i := range n {
		node := &model.Node{Name: fmt.Sprintf("node%06d", i+1), Leaf: fmt.Sprintf("leaf%04d", i/40), State: model.NodeReady,
			Features: []string{"cpu"}}
		if i%4 == 0 {
			if run == nil || len(run.Nodes) == 8 {
				run = &model.Job{ID: id, Tenant: "alice", NumNodes: 8, State: model.JobRunning, TimeLimit: time.Hour,
					SubmitTime: t0, StartTime: t0, Argv: []string{"./sim"}}
				st.Jobs[id] = run
				id++
			}
			node.State, node.JobID = model.NodeAllocated, run.ID
			run.Nodes = append(run.Nodes, node.Name)
		}
		st.Nodes[node.Name] = node
	}
	for _, j := range st.Jobs {
		j.NumNodes = len(j.Nodes)
	}
	env := make([]string, 40)
	for i := range env {
		env[i] = fmt.Sprintf("VAR%02d=/some/value/of/a/typical/length/%d", i, i)
	}
	for range pending {
		st.Jobs[id] = &model.Job{ID: id, Tenant: "alice", NumNodes: 1, State: model.JobPending, Held: true, TimeLimit: time.Hour,
			SubmitTime: t0, Argv: []string{"./step", "--input", fmt.Sprint(id)}, Env: env, Workdir: "/home/alice"}
		id++
	}
	st.NextJobID = id
	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, st); err != nil {
		b.Fatal(err)
	}
	f := New()
	if err := f.Restore(&buf); err != nil {
		b.Fatal(err)
	}
	return f
}
