package localexec

import (
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
