package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// haCluster is several real ibexd processes forming one raft cluster on
// loopback, sharing a job directory like servers of one simulated host.
type haCluster struct {
	t       *testing.T
	dir     string
	token   string
	servers []*haServer
	extra   []string
}

type haServer struct {
	id, api, raft, dataDir string
	cmd                    *exec.Cmd
	log                    *bytes.Buffer
	stopped                bool   // SIGSTOPped
	netns                  string // network namespace the server runs in, if any
}

func startHA(t *testing.T, n int, extra ...string) *haCluster {
	return startHAOn(t, n, nil, extra...)
}

// startHAOn starts n servers; with hosts, server i runs in network
// namespace hosts[i].ns at address hosts[i].ip.
func startHAOn(t *testing.T, n int, hosts []*testHost, extra ...string) *haCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-server test: skipped with -short")
	}
	h := &haCluster{t: t, dir: t.TempDir(), token: "ibex_test_admin_" + fmt.Sprint(time.Now().UnixNano()), extra: extra}
	if err := os.WriteFile(filepath.Join(h.dir, "admin.token"), []byte(h.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var peers []string
	for i := 0; i < n; i++ {
		s := &haServer{id: fmt.Sprintf("s%d", i+1), api: freeAddr(t), raft: freeAddr(t)}
		if hosts != nil {
			s.netns, s.api, s.raft = hosts[i].ns, hosts[i].ip+":7700", hosts[i].ip+":7701"
		}
		s.dataDir = filepath.Join(h.dir, s.id)
		h.servers = append(h.servers, s)
		peers = append(peers, s.id+"="+s.raft+"="+s.api)
	}
	for _, s := range h.servers {
		h.launch(s, "--bootstrap", "--peers", strings.Join(peers, ","))
	}
	t.Cleanup(func() {
		for _, s := range h.servers {
			h.kill(s, syscall.SIGKILL)
		}
	})
	h.waitReady()
	return h
}

func (h *haCluster) launch(s *haServer, args ...string) {
	h.t.Helper()
	s.log = &bytes.Buffer{}
	base := []string{"--simulate", "--node-id", s.id, "--data-dir", s.dataDir, "--listen", s.api, "--raft-addr", s.raft,
		"--http", "", "--admin-token-file", filepath.Join(h.dir, "admin.token"), "--jobs-dir", filepath.Join(h.dir, "jobs"),
		"--leaves", "2", "--nodes-per-leaf", "4", "--log-level", "warn"}
	argv := append([]string{filepath.Join(binDir, "ibexd")}, append(append(base, h.extra...), args...)...)
	if s.netns != "" {
		argv = append([]string{"ip", "netns", "exec", s.netns}, argv...)
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	s.stopped = false
}

// kill signals a server; SIGKILL and SIGTERM also wait for it to exit.
func (h *haCluster) kill(s *haServer, sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if s.stopped && sig != syscall.SIGCONT {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
	s.cmd.Process.Signal(sig)
	switch sig {
	case syscall.SIGSTOP:
		s.stopped = true
		return
	case syscall.SIGCONT:
		s.stopped = false
		return
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func (h *haCluster) restart(s *haServer) {
	h.t.Helper()
	h.launch(s)
}

func (h *haCluster) addrs() string {
	var a []string
	for _, s := range h.servers {
		a = append(a, s.api)
	}
	return strings.Join(a, ",")
}

// client talks to every server, failing over like the CLI.
func (h *haCluster) client() *client.Client {
	h.t.Helper()
	c, err := client.New(h.addrs(), h.token)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// one returns a client bound to a single server.
func (h *haCluster) one(s *haServer) *client.Client {
	h.t.Helper()
	c, err := client.New(s.api, h.token)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func (h *haCluster) local(s *haServer) (*pb.LocalStatus, error) {
	c, err := client.New(s.api, h.token)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 2*time.Second)
	defer cancel()
	return c.Servers.Local(ctx, &pb.LocalRequest{})
}

func (h *haCluster) live() []*haServer {
	var out []*haServer
	for _, s := range h.servers {
		if s.cmd != nil && !s.stopped {
			out = append(out, s)
		}
	}
	return out
}

func (h *haCluster) waitReady() {
	h.t.Helper()
	c := h.client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(c.Context(context.Background()), 3*time.Second)
		resp, err := c.Nodes.List(ctx, &pb.ListNodesRequest{})
		cancel()
		if err == nil && len(resp.Nodes) == 8 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("cluster not ready: %v\n%s", err, h.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leader waits until exactly one live server says it leads and returns it.
func (h *haCluster) leader() *haServer {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var leaders []*haServer
		for _, s := range h.live() {
			if st, err := h.local(s); err == nil && st.Leader {
				leaders = append(leaders, s)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no single leader (%d)\n%s", len(leaders), h.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitConverged waits until every live server has applied the same
// entries and reports the same state hash, and returns that hash.
func (h *haCluster) waitConverged() string {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hashes := map[string]bool{}
		var last string
		var desc []string
		ok := true
		for _, s := range h.live() {
			st, err := h.local(s)
			if err != nil {
				ok = false
				desc = append(desc, fmt.Sprintf("%s: %v", s.id, err))
				continue
			}
			hashes[st.StateHash] = true
			last = st.StateHash
			desc = append(desc, fmt.Sprintf("%s: index %d hash %.12s jobs %d", s.id, st.AppliedIndex, st.StateHash, st.Jobs))
		}
		if ok && len(hashes) == 1 {
			return last
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("servers did not converge: %s", strings.Join(desc, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *haCluster) logs() string {
	var b strings.Builder
	for _, s := range h.servers {
		if s.log != nil {
			fmt.Fprintf(&b, "--- %s ---\n%s\n", s.id, s.log.String())
		}
	}
	return b.String()
}

// checkNoDoubleAllocation fails if any node is in two active jobs.
func (h *haCluster) checkNoDoubleAllocation(c *client.Client) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	defer cancel()
	resp, err := c.Jobs.List(ctx, &pb.ListJobsRequest{All: true})
	if err != nil {
		h.t.Fatal(err)
	}
	owner := map[string]uint64{}
	for _, j := range resp.Jobs {
		if j.State != "scheduled" && j.State != "running" {
			continue
		}
		for _, n := range j.Nodes {
			if o, dup := owner[n]; dup {
				h.t.Fatalf("node %s in jobs %d and %d", n, o, j.Id)
			}
			owner[n] = j.Id
		}
	}
}

var filepathGlob = filepath.Glob
