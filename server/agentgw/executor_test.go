package agentgw

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/agent"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/control"
	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/replica"
)

const testNode = "node001"

// agentCluster is a gateway on a replica.Memory with one real agent
// enrolled and connected over mutual TLS.
type agentCluster struct {
	store *replica.Memory
	gw    *Gateway
	exec  *Executor
}

func startAgentCluster(t *testing.T) *agentCluster {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := replica.NewMemory()
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	const token = "join-me"
	for _, cmd := range []fsm.Command{
		&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: testNode, Leaf: "leaf1"}}, Time: store.Now()},
		&fsm.SetClusterSecrets{Secrets: sec},
		&fsm.CreateJoinToken{Node: testNode, Hash: auth.HashToken(token), Expires: store.Now().Add(time.Hour)},
	} {
		if _, err := store.Apply(context.Background(), cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := Start(ctx, Config{Store: store, Listen: "127.0.0.1:0", NodeID: "ibexd-1", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	ca, err := pki.Current(store)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	runner, err := localexec.New(filepath.Join(dir, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.Agent{
		Config: agent.Config{Node: testNode, Servers: gw.Addrs(), DataDir: filepath.Join(dir, "data"),
			JoinToken: token, CAPin: ca.Pin(), SysfsRoot: filepath.Join(dir, "sysfs"), Disk: disk, FirmwareDir: dir,
			NoGossip: true, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, DialTimeout: 5 * time.Second},
		Eraser: &erase.Overwrite{Samples: 8}, Flasher: firmware.NewFake(), Jobs: runner, Logger: log,
	}
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	waitFor(t, "the agent's stream", func() bool { return gw.Connected(testNode) })
	return &agentCluster{store: store, gw: gw, exec: NewExecutor(gw)}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20s", what)
		}
	}
}

func (c *agentCluster) waitPhase(t *testing.T, job uint64, want control.Phase) control.Status {
	t.Helper()
	var st control.Status
	waitFor(t, "phase "+want.String()+" of job", func() bool {
		var err error
		st, err = c.exec.Status(job, testNode)
		if err != nil {
			t.Fatal(err)
		}
		return st.Phase == want
	})
	return st
}

func (c *agentCluster) task(job uint64, script string) control.Task {
	return control.Task{JobID: job, Tenant: "alice", Node: testNode, Nodes: []string{testNode}, Script: script, Term: c.store.Term()}
}

// TestExecutorRoundTrip: through the gateway and a real agent over mutual
// TLS, a job starts, reports its exit, its whole output (several chunks)
// comes back, and a running job is killed and its node cleaned with the
// agent's evidence.
func TestExecutorRoundTrip(t *testing.T) {
	c := startAgentCluster(t)
	const size = 2*MaxOutputChunk + 12345
	script := "printf start; head -c " + strconv.Itoa(size-len("start")-len("end")) + " /dev/zero | tr '\\0' x; printf end; exit 2\n"
	if err := c.exec.Start(c.task(1, script)); err != nil {
		t.Fatal(err)
	}
	if err := c.exec.Start(c.task(1, script)); err != nil { // a resend changes nothing
		t.Fatal(err)
	}
	if st := c.waitPhase(t, 1, control.Exited); st.ExitCode != 2 {
		t.Fatalf("exit code %d, want 2", st.ExitCode)
	}

	var out []byte
	for {
		data, eof, err := c.exec.ReadOutput(t.Context(), 1, testNode, int64(len(out)), MaxOutputChunk)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data...)
		if eof {
			break
		}
	}
	if len(out) != size || !bytes.HasPrefix(out, []byte("startxxx")) || !bytes.HasSuffix(out, []byte("xxxend")) {
		t.Fatalf("output %d bytes (%q…%q), want %d", len(out), out[:min(8, len(out))], out[max(0, len(out)-8):], size)
	}
	tail, err := c.exec.Output(1, testNode, 10)
	if err != nil || string(tail) != "xxxxxxxend" {
		t.Fatalf("tail %q, %v", tail, err)
	}

	if err := c.exec.Start(c.task(2, "sleep 300 & sleep 300\n")); err != nil {
		t.Fatal(err)
	}
	c.waitPhase(t, 2, control.Running)
	waitFor(t, "job 2 reported running", func() bool {
		r, ok := c.gw.jobs.report(testNode, 2)
		return ok && r.GetPhase() == "running"
	})
	if err := c.exec.Kill(2, testNode); err != nil {
		t.Fatal(err)
	}
	if st := c.waitPhase(t, 2, control.Lost); !strings.Contains(st.Reason, "killed") {
		t.Fatalf("killed job: %+v", st)
	}
	var ev string
	waitFor(t, "clean evidence", func() bool {
		ev, err = c.exec.Clean(2, testNode)
		if err != nil && !errors.Is(err, control.ErrInProgress) {
			t.Fatal(err)
		}
		return err == nil
	})
	if !strings.Contains(ev, "none left") {
		t.Fatalf("clean evidence %q", ev)
	}
}

// TestExecutorTermFence: a task of a deposed leader's term is refused by
// the agent once it has heard from the newer leader; Status says so.
func TestExecutorTermFence(t *testing.T) {
	c := startAgentCluster(t)
	old := c.task(1, "echo never\n")
	c.store.SetTerm(5)
	if err := c.exec.Start(c.task(2, "true\n")); err != nil { // the agent hears of term 5
		t.Fatal(err)
	}
	c.waitPhase(t, 2, control.Exited)
	if err := c.exec.Start(old); err != nil {
		t.Fatal(err)
	}
	if st := c.waitPhase(t, 1, control.Refused); !strings.Contains(st.Reason, "stale leader term 1 < 5") {
		t.Fatalf("stale task: %+v", st)
	}
}

// TestExecutorUnknownJob: a connected agent that never heard of a job
// (the leader that decided it died before sending it) makes it not
// started, with the reason; a node without an agent is unreachable.
func TestExecutorUnknownJob(t *testing.T) {
	c := startAgentCluster(t)
	if st, err := c.exec.Status(42, testNode); err != nil || st.Phase != control.NotStarted || !strings.Contains(st.Reason, "no record of the job") {
		t.Fatalf("status %+v, %v", st, err)
	}
	if err := c.exec.Start(control.Task{JobID: 1, Node: "node999", Nodes: []string{"node999"}, Argv: []string{"true"}}); !errors.Is(err, control.ErrUnreachable) {
		t.Fatalf("start on a node without an agent: %v", err)
	}
}

// TestDeposedGatewayLetsAgentsGo: a gateway that stops leading ends its
// agents' streams, so they find the new leader; a server whose term is
// older than one the agent has seen (a deposed leader that still thinks
// it leads) is refused the agent's stream.
func TestDeposedGatewayLetsAgentsGo(t *testing.T) {
	c := startAgentCluster(t)
	c.store.SetTerm(5)
	if err := c.exec.Start(c.task(1, "true\n")); err != nil { // the agent records term 5
		t.Fatal(err)
	}
	c.waitPhase(t, 1, control.Exited)

	c.store.SetLeader(false)
	waitFor(t, "the stream to end", func() bool { return !c.gw.Connected(testNode) })
	c.store.SetLeader(true)
	waitFor(t, "the agent back", func() bool { return c.gw.Connected(testNode) })

	c.store.SetLeader(false)
	waitFor(t, "the stream to end", func() bool { return !c.gw.Connected(testNode) })
	c.store.SetTerm(3)
	c.store.SetLeader(true)
	time.Sleep(500 * time.Millisecond) // the agent retries every 20-200 ms
	if c.gw.Connected(testNode) {
		t.Fatal("a server at term 3 holds the stream of an agent that has seen term 5")
	}
}
