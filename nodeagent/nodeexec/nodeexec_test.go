package nodeexec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// collector gathers an exec's events, as the agent's stream would.
type collector struct {
	mu     sync.Mutex
	events []*pb.ExecEvent
}

func (c *collector) emit(ev *pb.ExecEvent) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
}

func (c *collector) output() (stdout, stderr string, biggest int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var o, e bytes.Buffer
	for _, ev := range c.events {
		o.Write(ev.Stdout)
		e.Write(ev.Stderr)
		biggest = max(biggest, len(ev.Stdout), len(ev.Stderr))
	}
	return o.String(), e.String(), biggest
}

func task(argv ...string) *pb.ExecTask {
	return &pb.ExecTask{JobId: 3, Nodes: []string{"node001", "node002"}, NodeIndex: 1, Argv: argv}
}

func TestStartStreamsChunkedOutputAndExitCode(t *testing.T) {
	jobs, _ := localexec.New(t.TempDir())
	var c collector
	// 200 KiB on stdout in one write, a line on stderr, exit 3.
	tk := task("head -c 204800 /dev/zero | tr '\\0' x; echo oops >&2; echo $IBEX_NODENAME $FOO >&2; exit 3")
	tk.Shell, tk.Env = true, []string{"FOO=bar"}
	p, err := Start(jobs, "e1", tk, Options{}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	final, _ := p.Wait()
	if !final.Done || final.ExitCode != 3 || final.Signal != "" || final.Reason != "" || final.ExecId != "e1" {
		t.Fatalf("final event %v", final)
	}
	out, errs, biggest := c.output()
	if out != strings.Repeat("x", 204800) || errs != "oops\nnode002 bar\n" {
		t.Fatalf("stdout %d bytes, stderr %q", len(out), errs)
	}
	if biggest > MaxChunk {
		t.Fatalf("an event carried %d bytes, more than %d", biggest, MaxChunk)
	}
	for _, ev := range c.events {
		if ev.ExecId != "e1" || ev.Done {
			t.Fatalf("output event %v", ev)
		}
	}
}

func TestChunkerSplits(t *testing.T) {
	var c collector
	w := chunker{id: "x", emit: c.emit}
	buf := bytes.Repeat([]byte("ab"), MaxChunk+1) // 2*MaxChunk+2 bytes
	if n, err := w.Write(buf); n != len(buf) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	buf[0] = 'Z' // the events must not share the caller's buffer
	if len(c.events) != 3 || len(c.events[0].Stdout) != MaxChunk || len(c.events[2].Stdout) != 2 || c.events[0].Stdout[0] != 'a' {
		t.Fatalf("%d events", len(c.events))
	}
}

func TestKillIsByIbexOutsideSignalIsNot(t *testing.T) {
	jobs, _ := localexec.New(t.TempDir())
	var c collector
	p, err := Start(jobs, "k", task("sleep", "300"), Options{}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if final, _ := p.Wait(); final.Signal != "killed" || final.ExitCode != 137 || final.Reason != "killed by ibex" {
		t.Fatalf("killed by ibex: %v", final)
	}
	p, err = Start(jobs, "o", task("sleep", "300"), Options{}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-p.Pid, syscall.SIGKILL)
	if final, _ := p.Wait(); final.Signal != "killed" || final.ExitCode != 137 || final.Reason != "" {
		t.Fatalf("killed from outside: %v", final)
	}
}

func TestWorkdir(t *testing.T) {
	jobs, _ := localexec.New(t.TempDir())
	sub := filepath.Join(jobs.JobDir(3), "sub")
	os.MkdirAll(sub, 0o755)
	for dir, want := range map[string]string{"": jobs.JobDir(3), "sub": sub, sub: sub} {
		var c collector
		tk := task("pwd")
		tk.Workdir = dir
		p, err := Start(jobs, "w", tk, Options{}, c.emit)
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		if out, _, _ := c.output(); out != want+"\n" {
			t.Errorf("workdir %q: ran in %q, want %q", dir, out, want)
		}
	}
	tk := task("pwd")
	tk.Workdir = "/nonexistent"
	if _, err := Start(jobs, "w", tk, Options{}, (&collector{}).emit); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing workdir: %v", err)
	}
}

// TestMPILaunchIsBuiltOnTheNode: the launcher is found and the hostfiles
// and agent script written where the task runs.
func TestMPILaunchIsBuiltOnTheNode(t *testing.T) {
	jobs, _ := localexec.New(t.TempDir())
	bin := t.TempDir()
	// A fake mpirun that prints its arguments.
	os.WriteFile(filepath.Join(bin, "mpirun.openmpi"), []byte("#!/bin/sh\necho \"$@\"\n"), 0o755)
	look := func(name string) (string, error) {
		if p := filepath.Join(bin, name); name == "mpirun.openmpi" {
			return p, nil
		}
		return "", errors.New("not found")
	}
	tk := task("./app", "-v")
	tk.Mpi, tk.TasksPerNode = "openmpi", 2
	var c collector
	p, err := Start(jobs, "m", tk, Options{IbexBinary: "/opt/ibex/bin/ibex", LookPath: look}, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	final, _ := p.Wait()
	dir := jobs.JobDir(3)
	want := "--hostfile " + dir + "/hostfile-2.openmpi -np 4 --mca plm rsh --mca plm_rsh_agent " + dir + "/ibex-exec-agent --mca ras ^slurm ./app -v\n"
	if out, _, _ := c.output(); out != want || final.ExitCode != 0 {
		t.Fatalf("launcher got %q (exit %d), want %q", out, final.ExitCode, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ibex-exec-agent")); err != nil || !strings.Contains(string(b), "'/opt/ibex/bin/ibex' exec --agent") {
		t.Fatalf("agent script %q, %v", b, err)
	}
	// Without an ibex CLI on the node there is no agent for the runtime.
	if _, err := Start(jobs, "m2", tk, Options{LookPath: look}, c.emit); err == nil || !strings.Contains(err.Error(), "launch agent") {
		t.Fatalf("no ibex CLI: %v", err)
	}
	// auto reads the program on the node: a shell script is no MPI program.
	os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/sh\n"), 0o755)
	tk.Mpi = "auto"
	if _, err := Start(jobs, "m3", tk, Options{IbexBinary: "/opt/ibex/bin/ibex", LookPath: look}, c.emit); err == nil || !strings.Contains(err.Error(), "--mpi auto: cannot read ./app") {
		t.Fatalf("auto on a script: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := task("true")
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
	for what, change := range map[string]func(*pb.ExecTask){
		"no job":          func(t *pb.ExecTask) { t.JobId = 0 },
		"no nodes":        func(t *pb.ExecTask) { t.Nodes = nil },
		"index past end":  func(t *pb.ExecTask) { t.NodeIndex = 2 },
		"negative index":  func(t *pb.ExecTask) { t.NodeIndex = -1 },
		"no command":      func(t *pb.ExecTask) { t.Argv = nil },
		"empty program":   func(t *pb.ExecTask) { t.Argv = []string{""} },
		"path in node":    func(t *pb.ExecTask) { t.Nodes[0] = "../../etc" },
		"dotdot node":     func(t *pb.ExecTask) { t.Nodes[1] = ".." },
		"NUL in argv":     func(t *pb.ExecTask) { t.Argv = []string{"a\x00b"} },
		"env without =":   func(t *pb.ExecTask) { t.Env = []string{"FOO"} },
		"env without key": func(t *pb.ExecTask) { t.Env = []string{"=x"} },
		"too many tasks":  func(t *pb.ExecTask) { t.TasksPerNode = MaxTasksPerNode + 1 },
		"wide pkey":       func(t *pb.ExecTask) { t.Pkey = 0x10000 },
		"unknown mpi":     func(t *pb.ExecTask) { t.Mpi = "lam" },
		"huge":            func(t *pb.ExecTask) { t.Argv = []string{strings.Repeat("x", MaxTaskBytes+1)} },
		"too many args":   func(t *pb.ExecTask) { t.Argv = make([]string, MaxArgs+1); t.Argv[0] = "x" },
	} {
		bad := proto.Clone(ok).(*pb.ExecTask)
		change(bad)
		if err := Validate(bad); err == nil {
			t.Errorf("%s: accepted", what)
		}
	}
}

// FuzzValidate: whatever arrives, a task Validate accepts is safe to act
// on: its node index is in range and no node name leaves the job directory.
func FuzzValidate(f *testing.F) {
	seed, _ := proto.Marshal(&pb.ExecTask{JobId: 1, Nodes: []string{"n1", "n2"}, NodeIndex: 1, Argv: []string{"sh", "-c", "x"}, Env: []string{"A=b"}, Mpi: "auto"})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var tk pb.ExecTask
		if proto.Unmarshal(data, &tk) != nil || Validate(&tk) != nil {
			return
		}
		if tk.NodeIndex < 0 || int(tk.NodeIndex) >= len(tk.Nodes) || len(tk.Argv) == 0 {
			t.Fatalf("accepted %v", &tk)
		}
		for _, n := range tk.Nodes {
			if filepath.Base(n) != n || n == ".." || n == "." {
				t.Fatalf("accepted node name %q", n)
			}
		}
	})
}

func TestLocalExec(t *testing.T) {
	jobs, _ := localexec.New(t.TempDir())
	l := &Local{Jobs: jobs}
	ch, err := l.Exec(context.Background(), "node002", task("sh", "-c", "echo hi; exit 5"))
	if err != nil {
		t.Fatal(err)
	}
	var out string
	var last *pb.ExecEvent
	for ev := range ch {
		out += string(ev.Stdout)
		last = ev
	}
	if out != "hi\n" || !last.Done || last.ExitCode != 5 {
		t.Fatalf("output %q, last %v", out, last)
	}
	if _, err := l.Exec(context.Background(), "node001", task("true")); err == nil {
		t.Fatal("a task for node002 ran on node001")
	}
	// Ending the context kills the exec; the final event says ibex did.
	ctx, cancel := context.WithCancel(context.Background())
	ch, err = l.Exec(ctx, "node002", task("sh", "-c", "echo started; sleep 300"))
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; string(ev.Stdout) != "started\n" {
		t.Fatalf("first event %v", ev)
	}
	cancel()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("closed without a final event")
			}
			if ev.Done {
				if ev.Reason != "killed by ibex" || ev.Signal != "killed" {
					t.Fatalf("final event %v", ev)
				}
				return
			}
		case <-timeout:
			t.Fatal("the cancelled exec did not end")
		}
	}
}
