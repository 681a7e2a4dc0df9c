package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/internal/execrun"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestDevTLSPins: ibexd --dev serves TLS and writes the CA pin into the
// CLI config, with which the CLI works (startDev's `ibex nodes` already
// used it). A wrong pin, a config without one, and plaintext each fail at
// once with one line saying what to fix.
func TestDevTLSPins(t *testing.T) {
	c := startDev(t)
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(c.cfgHome, "ibex", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	pin, _ := cfg["ca_pin"].(string)
	if _, err := catrust.ParsePin(pin); err != nil {
		t.Fatalf("the dev CLI config has no valid ca_pin: %s", b)
	}
	if !strings.Contains(c.log.String(), pin) {
		t.Fatalf("ibexd --dev did not say the pin on start:\n%s", c.log)
	}
	c.must("--ca-pin", pin, "queue") // the pin given explicitly, as a flag

	wrong := "sha256:" + strings.Repeat("00", 32)
	c.fails([]string{"IBEX_CA_PIN=" + wrong}, "is not from the cluster CA with pin "+wrong, "queue")
	c.fails([]string{"IBEX_PLAINTEXT=1"}, "serves TLS unless started with --plaintext", "queue")

	delete(cfg, "ca_pin")
	nopin := filepath.Join(c.dir, "nopin.json")
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(nopin, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails([]string{"IBEX_CONFIG=" + nopin}, "ca_pin", "queue")
}

// TestPlaintextRefusedOffLoopback: --plaintext on an address that is not
// loopback refuses to start and says how to proceed; --insecure starts,
// shouting.
func TestPlaintextRefusedOffLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	dir := t.TempDir()
	args := []string{"--dev", "--data-dir", filepath.Join(dir, "data"), "--raft-addr", testcluster.FreeAddr(t), "--http", "",
		"--cli-config", filepath.Join(dir, "config.json"), "--listen", "0.0.0.0:" + strings.Split(testcluster.FreeAddr(t), ":")[1]}
	cmd := exec.Command(filepath.Join(binDir, "ibexd"), append(args, "--plaintext")...)
	cmd.Dir = dir
	_, errb, err := execrun.Output(cmd)
	if code, _ := execrun.ExitCode(err); code == 0 || !strings.Contains(string(errb), "not a loopback address") || !strings.Contains(string(errb), "--insecure") {
		t.Fatalf("--plaintext on 0.0.0.0: exit %d, stderr %q; want a refusal naming --insecure", code, errb)
	}

	log := &execrun.Buffer{}
	cmd = exec.Command(filepath.Join(binDir, "ibexd"), append(args, "--insecure")...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer execrun.Stop(cmd, syscall.SIGTERM, 15*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), "ibexd --dev is up") {
		if time.Now().After(deadline) {
			t.Fatalf("--insecure did not start:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "INSECURE") {
		t.Fatalf("--insecure started without a warning:\n%s", log)
	}
}

// TestHAForwardsOverTLS: in a three-server cluster over TLS, a submission
// sent to a follower is forwarded to the leader over mutual TLS (the
// answer names the leader), and a plaintext client gets nowhere.
func TestHAForwardsOverTLS(t *testing.T) {
	h := startHA(t, 3)
	lead := h.Leader()
	var follower *testcluster.Server
	for _, s := range h.Servers {
		if s != lead {
			follower = s
			break
		}
	}
	pin, err := catrust.ParsePin(h.CAPin())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(follower.API, grpc.WithTransportCredentials(credentials.NewTLS(catrust.PinnedConfig(pin))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+h.Token)
	var header metadata.MD
	var resp *pb.SubmitResponse
	for {
		resp, err = pb.NewJobsClient(conn).Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour),
			Interactive: true, RequestId: "via-follower"}, grpc.Header(&header))
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // a leader not yet known to the follower
	}
	if err != nil {
		t.Fatalf("submit through follower %s: %v\n%s", follower.ID, err, h.Logs())
	}
	if got := header.Get("ibex-leader-api"); len(got) != 1 || got[0] != lead.API {
		t.Fatalf("the follower answered without forwarding to the leader %s: header %v", lead.API, header)
	}
	c := h.One(lead)
	jctx, jcancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	defer jcancel()
	if j, err := c.Jobs.Get(jctx, &pb.GetJobRequest{JobId: resp.JobId}); err != nil || j.Id != resp.JobId {
		t.Fatalf("the leader does not have the forwarded job %d: %v %v", resp.JobId, j, err)
	}

	plain, err := client.New(follower.API, h.Token, client.WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, pcancel := context.WithTimeout(plain.Context(context.Background()), 10*time.Second)
	defer pcancel()
	_, err = plain.Jobs.List(pctx, &pb.ListJobsRequest{})
	var te *client.TrustError
	if !errors.As(err, &te) {
		t.Fatalf("a plaintext client to a TLS server: %v, want a TrustError", err)
	}
}
