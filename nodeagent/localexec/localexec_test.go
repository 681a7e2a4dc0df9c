package localexec

import (
	"strings"
	"testing"
	"time"
)

func waitPhase(t *testing.T, r *Runner, job uint64, node string, want Phase) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.Status(job, node)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d on %s: phase %v, want %v", job, node, st.Phase, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunScriptWithEnvironment(t *testing.T) {
	r, _ := New(t.TempDir())
	task := Task{JobID: 7, Node: "node002", NodeIndex: 1, Nodes: []string{"node001", "node002"},
		Script: "echo id=$IBEX_JOB_ID list=$IBEX_NODELIST n=$IBEX_NNODES me=$IBEX_NODEID\nexit 3\n"}
	if err := r.Start(task); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(task); err != nil { // idempotent
		t.Fatal(err)
	}
	st := waitPhase(t, r, 7, "node002", Exited)
	if st.ExitCode != 3 {
		t.Fatalf("exit code %d, want 3", st.ExitCode)
	}
	out, _ := r.Output(7, "node002", 1<<20)
	if got := strings.TrimSpace(string(out)); got != "id=7 list=node[001-002] n=2 me=1" {
		t.Fatalf("output %q", got)
	}
}

func TestKillAndClean(t *testing.T) {
	r, _ := New(t.TempDir())
	// A child that forks a grandchild: cleaning must kill both.
	if err := r.Start(Task{JobID: 1, Node: "n", Nodes: []string{"n"}, Argv: []string{"/bin/sh", "-c", "sleep 300 & sleep 300"}}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n", Running)
	if err := r.Kill(1, "n"); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, r, 1, "n", Lost)
	ev, err := r.Clean(1, "n")
	if err != nil || !strings.Contains(ev, "none left") {
		t.Fatalf("clean: %q, %v", ev, err)
	}
}

// TestAdoptAfterRestart simulates ibexd dying: a second Runner over the same
// directory sees the first one's process as running, then its exit status.
func TestAdoptAfterRestart(t *testing.T) {
	dir := t.TempDir()
	r1, _ := New(dir)
	if err := r1.Start(Task{JobID: 2, Node: "n", Nodes: []string{"n"}, Argv: []string{"/bin/sh", "-c", "sleep 0.3; exit 5"}}); err != nil {
		t.Fatal(err)
	}
	r2, _ := New(dir)
	if st, _ := r2.Status(2, "n"); st.Phase != Running {
		t.Fatalf("restarted runner sees %v", st.Phase)
	}
	if st := waitPhase(t, r2, 2, "n", Exited); st.ExitCode != 5 {
		t.Fatalf("exit %d", st.ExitCode)
	}
	if st, _ := r2.Status(3, "n"); st.Phase != NotStarted {
		t.Fatalf("unknown task: %v", st.Phase)
	}
}
