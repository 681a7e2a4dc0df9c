// Package testcluster starts real ibexd processes as one raft cluster on
// loopback (or in network namespaces) for end-to-end tests and benchmarks:
// kill, pause, restart and partition them, and check that they converge.
package testcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/execrun"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Cluster is several real ibexd processes forming one raft cluster on
// loopback, sharing a job directory like servers of one simulated host.
type Cluster struct {
	t       testing.TB
	bin     string
	Dir     string
	Token   string
	Servers []*Server
	extra   []string
	pin     string // the cluster CA's, once read (CAPin)
	nodes   int    // simulated nodes WaitReady waits for
}

type Server struct {
	ID, API, Raft, DataDir string
	Netns                  string   // network namespace the server runs in, if any
	Extra                  []string // arguments of this server alone
	cmd                    *exec.Cmd
	log                    *execrun.Buffer // written by the process while tests read it
	stopped                bool            // SIGSTOPped
}

// Start starts n servers from the ibexd binary in bin; with hosts, server i
// runs in network namespace hosts[i].NS at address hosts[i].IP. extra is
// passed to every server. Each runs simulated nodes on a 2-leaf, 8-node fat
// tree, sharing one job directory like servers of one host.
func Start(t testing.TB, bin string, n int, hosts []*Host, extra ...string) *Cluster {
	t.Helper()
	return start(t, bin, n, hosts, "", 8, nil, extra...)
}

// StartOn starts n servers in this namespace listening on ip (API and raft
// on free ports of it), for clients in other namespaces that reach ip;
// extra must give the fabric of nodes simulated nodes (WaitReady waits
// for that many).
// each, if not nil, gives server i arguments of its own (its listeners),
// kept across restarts.
func StartOn(t testing.TB, bin string, n int, ip string, nodes int, each func(i int) []string, extra ...string) *Cluster {
	t.Helper()
	return start(t, bin, n, nil, ip, nodes, each, extra...)
}

func start(t testing.TB, bin string, n int, hosts []*Host, ip string, nodes int, each func(int) []string, extra ...string) *Cluster {
	t.Helper()
	h := &Cluster{t: t, bin: bin, Dir: t.TempDir(), Token: "ibex_test_admin_" + fmt.Sprint(time.Now().UnixNano()), extra: extra, nodes: nodes}
	if err := os.WriteFile(filepath.Join(h.Dir, "admin.token"), []byte(h.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var peers []string
	for i := 0; i < n; i++ {
		s := &Server{ID: fmt.Sprintf("s%d", i+1), API: FreeAddr(t), Raft: FreeAddr(t)}
		if ip != "" {
			s.API, s.Raft = FreeAddrOn(t, ip), FreeAddrOn(t, ip)
		}
		if each != nil {
			s.Extra = each(i)
		}
		if hosts != nil {
			s.Netns, s.API, s.Raft = hosts[i].NS, hosts[i].IP+":7700", hosts[i].IP+":7701"
		}
		s.DataDir = filepath.Join(h.Dir, s.ID)
		h.Servers = append(h.Servers, s)
		peers = append(peers, s.ID+"="+s.Raft+"="+s.API)
	}
	for _, s := range h.Servers {
		h.Launch(s, "--bootstrap", "--peers", strings.Join(peers, ","))
	}
	t.Cleanup(func() {
		for _, s := range h.Servers {
			h.Kill(s, syscall.SIGKILL)
		}
	})
	h.WaitReady()
	return h
}

// Launch starts (or restarts) server s with extra arguments.
func (h *Cluster) Launch(s *Server, args ...string) {
	h.t.Helper()
	s.log = &execrun.Buffer{}
	base := []string{"--simulate", "--node-id", s.ID, "--data-dir", s.DataDir, "--listen", s.API, "--raft-addr", s.Raft,
		"--http", "", "--admin-token-file", filepath.Join(h.Dir, "admin.token"), "--jobs-dir", filepath.Join(h.Dir, "jobs"),
		"--leaves", "2", "--nodes-per-leaf", "4", "--log-level", "warn"}
	argv := append([]string{filepath.Join(h.bin, "ibexd")}, append(append(append(base, h.extra...), s.Extra...), args...)...)
	if s.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", s.Netns}, argv...)
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	s.stopped = false
}

// Kill signals a server; any signal but SIGSTOP and SIGCONT also waits
// for it to exit (and kills it after 15 s).
func (h *Cluster) Kill(s *Server, sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	if s.stopped && sig != syscall.SIGCONT {
		s.cmd.Process.Signal(syscall.SIGCONT)
	}
	switch sig {
	case syscall.SIGSTOP, syscall.SIGCONT:
		s.cmd.Process.Signal(sig)
		s.stopped = sig == syscall.SIGSTOP
		return
	}
	execrun.Stop(s.cmd, sig, 15*time.Second)
	s.cmd = nil
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	return FreeAddrOn(t, "127.0.0.1")
}

// FreeAddrOn returns ip with a port free on it right now, below the
// kernel's ephemeral range (freeport.go): a port the kernel handed out
// for listening (port 0) comes from that range, and while a test has
// killed the server that owns it, any process's outgoing connection may
// take it as its source port, so the restarted server cannot listen
// (TestHALinearizable failed so: "bind: address already in use").
func FreeAddrOn(t testing.TB, ip string) string {
	if addr, ok := freeBelowEphemeral(ip); ok {
		return addr
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (h *Cluster) Restart(s *Server) {
	h.t.Helper()
	h.Launch(s)
}

func (h *Cluster) Addrs() string {
	var a []string
	for _, s := range h.Servers {
		a = append(a, s.API)
	}
	return strings.Join(a, ",")
}

// client talks to every server, failing over like the CLI.
func (h *Cluster) Client() *client.Client {
	h.t.Helper()
	c, err := client.New(h.Addrs(), h.Token, h.Trust())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// one returns a client bound to a single server.
func (h *Cluster) One(s *Server) *client.Client {
	h.t.Helper()
	c, err := client.New(s.API, h.Token, h.Trust())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func (h *Cluster) Local(s *Server) (*pb.LocalStatus, error) {
	c, err := client.New(s.API, h.Token, h.Trust())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 2*time.Second)
	defer cancel()
	return c.Servers.Local(ctx, &pb.LocalRequest{})
}

func (h *Cluster) Live() []*Server {
	var out []*Server
	for _, s := range h.Servers {
		if s.cmd != nil && !s.stopped {
			out = append(out, s)
		}
	}
	return out
}

func (h *Cluster) WaitReady() {
	h.t.Helper()
	c := h.Client()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(c.Context(context.Background()), 3*time.Second)
		nodes, err := client.AllNodes(ctx, c.Nodes)
		cancel()
		if err == nil && len(nodes) == h.nodes {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("cluster not ready: %v\n%s", err, h.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Follower returns a live server other than leader.
func (h *Cluster) Follower(leader *Server) *Server {
	h.t.Helper()
	for _, s := range h.Live() {
		if s != leader {
			return s
		}
	}
	h.t.Fatalf("no live server besides the leader\n%s", h.Logs())
	return nil
}

// leader waits until exactly one live server says it leads and returns it.
func (h *Cluster) Leader() *Server {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var leaders []*Server
		for _, s := range h.Live() {
			if st, err := h.Local(s); err == nil && st.Leader {
				leaders = append(leaders, s)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no single leader (%d)\n%s", len(leaders), h.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitConverged waits until every live server has applied the same
// entries and reports the same state hash, and returns that hash.
func (h *Cluster) WaitConverged() string {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		hashes := map[string]bool{}
		var last string
		var desc []string
		ok := true
		for _, s := range h.Live() {
			st, err := h.Local(s)
			if err != nil {
				ok = false
				desc = append(desc, fmt.Sprintf("%s: %v", s.ID, err))
				continue
			}
			hashes[st.StateHash] = true
			last = st.StateHash
			desc = append(desc, fmt.Sprintf("%s: index %d hash %.12s jobs %d", s.ID, st.AppliedIndex, st.StateHash, st.Jobs))
		}
		if ok && len(hashes) == 1 {
			return last
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("servers did not converge: %s\n%s", strings.Join(desc, "; "), h.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *Cluster) Logs() string {
	var b strings.Builder
	for _, s := range h.Servers {
		if s.log != nil {
			fmt.Fprintf(&b, "--- %s ---\n%s\n", s.ID, s.log.String())
		}
	}
	return b.String()
}

// checkNoDoubleAllocation fails if any node is in two active jobs.
func (h *Cluster) CheckNoDoubleAllocation(c *client.Client) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	defer cancel()
	jobs, err := client.AllJobs(ctx, c.Jobs, &pb.ListJobsRequest{All: true})
	if err != nil {
		h.t.Fatal(err)
	}
	owner := map[string]uint64{}
	for _, j := range jobs {
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

// WaitCaughtUp waits until server s has applied at least the index the
// leader had applied when it was called: a follower catching up while
// writes continue (all servers reporting one hash needs a quiet cluster).
func (h *Cluster) WaitCaughtUp(s *Server) {
	h.t.Helper()
	lst, err := h.Local(h.Leader())
	if err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := h.Local(s)
		if err == nil && st.AppliedIndex >= lst.AppliedIndex {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s did not catch up to index %d: %v %v\n%s", s.ID, lst.AppliedIndex, st, err, h.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
