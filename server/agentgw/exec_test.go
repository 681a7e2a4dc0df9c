package agentgw_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/nodeagent/agent"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/agentgw"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/replica"
)

// bed is a gateway over a leading in-memory state and a real agent
// enrolled with it, over the real mutual-TLS listener.
type bed struct {
	gw        *agentgw.Gateway
	jobs      *localexec.Runner
	stopAgent func()
}

func newBed(t *testing.T) *bed {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := replica.NewMemory()
	apply := func(cmd fsm.Command) {
		t.Helper()
		if _, err := store.Apply(context.Background(), cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	apply(&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node001", Leaf: "leaf1"}}, Time: store.Now()})
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	apply(&fsm.SetClusterSecrets{Secrets: sec})
	join := auth.NewToken()
	apply(&fsm.CreateJoinToken{Node: "node001", Hash: auth.HashToken(join), Expires: store.Now().Add(time.Hour)})

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gw, err := agentgw.Start(ctx, agentgw.Config{Store: store, Listen: "127.0.0.1:0", NodeID: "s1", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)

	blk, _ := pem.Decode([]byte(sec.CACertPEM))
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk")
	os.WriteFile(disk, nil, 0o600)
	jobs, err := localexec.New(filepath.Join(dir, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.Agent{
		Config: agent.Config{Node: "node001", Servers: gw.Addrs(), DataDir: filepath.Join(dir, "data"), JoinToken: join,
			CAPin: agent.PinCA(caCert), SysfsRoot: dir, Disk: disk, FirmwareDir: dir, NoGossip: true,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
		Eraser: &erase.Overwrite{Samples: 8}, Flasher: firmware.NewFake(), Logger: log, Jobs: jobs,
	}
	actx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Start(actx) }()
	b := &bed{gw: gw, jobs: jobs, stopAgent: func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(20 * time.Second)
	for !gw.Connected("node001") {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not connect within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return b
}

// collect reads events until the channel closes.
func collect(t *testing.T, ch <-chan *pb.ExecEvent) (stdout, stderr string, final *pb.ExecEvent) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return stdout, stderr, final
			}
			if final != nil {
				t.Fatalf("an event after the final one: %v", ev)
			}
			stdout += string(ev.Stdout)
			stderr += string(ev.Stderr)
			if ev.Done {
				final = ev
			}
		case <-timeout:
			t.Fatal("the exec's channel did not close within 30s")
		}
	}
}

func task(job uint64, argv ...string) *pb.ExecTask {
	return &pb.ExecTask{JobId: job, Nodes: []string{"node001"}, Argv: argv}
}

// TestExecRoundTrip: an exec goes to the node's agent over the mutual-TLS
// stream, runs in the job there, and its output (more than one chunk) and
// exit code come back; a cancelled exec is killed; the agent's refusal
// comes back as an error.
func TestExecRoundTrip(t *testing.T) {
	b := newBed(t)
	os.MkdirAll(b.jobs.JobDir(7), 0o755) // the node runs job 7

	ch, err := b.gw.Exec(context.Background(), "node001", task(7, "/bin/sh", "-c", "head -c 200000 /dev/zero; echo $IBEX_NODENAME >&2; exit 6"))
	if err != nil {
		t.Fatal(err)
	}
	out, errs, final := collect(t, ch)
	if len(out) != 200000 || errs != "node001\n" || final == nil || final.ExitCode != 6 || final.Error != "" {
		t.Fatalf("stdout %d bytes, stderr %q, final %v", len(out), errs, final)
	}

	ctx, cancel := context.WithCancel(context.Background())
	ch, err = b.gw.Exec(ctx, "node001", task(7, "/bin/sh", "-c", "echo up; exec sleep 300"))
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; string(ev.Stdout) != "up\n" {
		t.Fatalf("first event %v", ev)
	}
	cancel()
	if _, _, final := collect(t, ch); final == nil || final.Signal != "killed" || final.Reason != "killed by ibex" {
		t.Fatalf("cancelled exec ended with %v", final)
	}

	ch, err = b.gw.Exec(context.Background(), "node001", task(8, "true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, final := collect(t, ch); final == nil || !strings.Contains(final.Error, "does not run job 8") {
		t.Fatalf("exec into a job the node does not run: %v", final)
	}

	if _, err := b.gw.Exec(context.Background(), "node002", task(7, "true")); status.Code(err) != codes.Unavailable {
		t.Fatalf("a node without an agent: %v", err)
	}
}

// TestExecLostWithTheAgent: when the agent's stream ends mid-exec, the
// caller's channel closes, without a final event unless the agent's kill
// of the orphaned exec made it onto the wire first.
func TestExecLostWithTheAgent(t *testing.T) {
	b := newBed(t)
	os.MkdirAll(b.jobs.JobDir(7), 0o755)
	ch, err := b.gw.Exec(context.Background(), "node001", task(7, "/bin/sh", "-c", "echo up; exec sleep 300"))
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; string(ev.Stdout) != "up\n" {
		t.Fatalf("first event %v", ev)
	}
	b.stopAgent()
	if _, _, final := collect(t, ch); final != nil && final.Reason != "killed by ibex" {
		t.Fatalf("a final event %v from an agent that went away", final)
	}
}
