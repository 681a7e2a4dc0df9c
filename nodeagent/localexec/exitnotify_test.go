package localexec

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// OnExit is called once the task's process was reaped, and by then Status
// tells its end: the agent reads the status in the hook and must find the
// exit, not "running".
func TestOnExitCallsBackOnceTheExitIsReadable(t *testing.T) {
	r, _ := New(t.TempDir())
	type ended struct {
		job   uint64
		node  string
		phase Phase
		code  int
	}
	got := make(chan ended, 4)
	r.OnExit(func(job uint64, node string) {
		st, err := r.Status(job, node)
		if err != nil {
			t.Error(err)
		}
		got <- ended{job, node, st.Phase, st.ExitCode}
	})
	if err := r.Start(Task{JobID: 5, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"/bin/sh", "-c", "exit 4"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e != (ended{5, "n1", Exited, 4}) {
			t.Fatalf("hook saw %+v, want job 5 on n1 exited with 4", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit callback for a task that ended")
	}

	// Turned off: no call.
	r.OnExit(nil)
	if err := r.Start(Task{JobID: 6, Node: "n1", Nodes: []string{"n1"}, Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 6, "n1", Exited)
	r.mu.Lock()
	n := len(r.children)
	r.mu.Unlock()
	for n > 0 { // reaped: the hook would have run by now
		time.Sleep(5 * time.Millisecond)
		r.mu.Lock()
		n = len(r.children)
		r.mu.Unlock()
	}
	select {
	case e := <-got:
		t.Fatalf("hook called after OnExit(nil): %+v", e)
	default:
	}
}

// A Status read at any moment of a job's short life says running or
// exited, never lost: a job that exits 0 must not be judged lost because
// /proc and its cgroup were read while its wrapper started or ended. As
// the simulated nodes run jobs (a job user, a cgroup each), 8 runners side
// by side, every Status polled in a tight loop until the job is reaped.
func TestStatusOfAShortJobIsNeverLost(t *testing.T) {
	root, nobody := jobUserRoot(t)
	cg := testCgroupDir(t)
	var mu sync.Mutex
	seen := map[Phase]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		node := fmt.Sprintf("n%d", w)
		r, err := NewWithOptions(filepath.Join(root, node), Options{User: nobody, SharedHost: true, CgroupDir: filepath.Join(cg, node)})
		if err != nil {
			t.Fatal(err)
		}
		// As the agent does: the hook reads the status (and the poll
		// below goes on meanwhile).
		reaped := make(chan struct{}, 1)
		r.OnExit(func(id uint64, node string) {
			if st, _ := r.Status(id, node); st.Phase != Exited {
				t.Errorf("job %d on %s in the exit hook: %v, want exited", id, node, st.Phase)
			}
			reaped <- struct{}{}
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := uint64(1); id <= 60; id++ {
				if err := r.Start(Task{JobID: id, Node: node, Nodes: []string{node}, Argv: []string{"true"}}); err != nil {
					t.Error(err)
					return
				}
				for done := false; !done; {
					select {
					case <-reaped:
						done = true
					default:
					}
					st, err := r.Status(id, node)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[st.Phase]++
					mu.Unlock()
				}
				if st, _ := r.Status(id, node); st.Phase != Exited || st.ExitCode != 0 {
					t.Errorf("job %d on %s after its reap: %v (code %d), want exited 0", id, node, st.Phase, st.ExitCode)
				}
				if _, err := r.Clean(id, node); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if seen[Lost] > 0 || seen[NotStarted] > 0 {
		t.Fatalf("Status of jobs that all exited 0 said: %v", seen)
	}
}
