package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/replica"
)

// fakeOutputs is job output in memory, growing as the test writes.
type fakeOutputs struct {
	mu    sync.Mutex
	out   map[string][]byte // by "job/node"
	reads int
	max   int // the largest read asked for
}

func (f *fakeOutputs) write(job uint64, node string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fmt.Sprintf("%d/%s", job, node)
	f.out[k] = append(f.out[k], b...)
}

func (f *fakeOutputs) Output(job uint64, node string, max int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.out[fmt.Sprintf("%d/%s", job, node)]
	return b[max64(0, int64(len(b))-max):], nil
}

func (f *fakeOutputs) ReadOutput(_ context.Context, job uint64, node string, off int64, n int) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	f.max = max(f.max, n)
	b := f.out[fmt.Sprintf("%d/%s", job, node)]
	if off >= int64(len(b)) {
		return nil, true, nil
	}
	end := min(int64(len(b)), off+int64(n))
	return append([]byte(nil), b[off:end]...), end == int64(len(b)), nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// fakeCluster is a raft membership that is or is not the leader.
type fakeCluster struct {
	Membership
	mu     sync.Mutex
	leader bool
}

func (c *fakeCluster) IsLeader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

func (c *fakeCluster) Leader() (string, string) { return "ibexd-1", "" }

func (c *fakeCluster) ReadIndex(context.Context) error { return nil }

func (c *fakeCluster) Members() ([]cluster.Member, error) { return nil, nil }

// logsAPI is one API server on a memory store with tenants alice and bob
// and alice's job 1 on node001 and node002.
type logsAPI struct {
	store   *replica.Memory
	outputs *fakeOutputs
	cluster *fakeCluster
	addr    string
}

func startLogsAPI(t *testing.T, store *replica.Memory, leader bool) *logsAPI {
	t.Helper()
	l := &logsAPI{store: store, outputs: &fakeOutputs{out: map[string][]byte{}}, cluster: &fakeCluster{leader: leader}}
	a := New(Config{Store: store, Cluster: l.cluster, NodeID: "ibexd-test", Outputs: l.outputs,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(a.Interceptors()...))
	a.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	l.addr = lis.Addr().String()
	return l
}

func newLogsStore(t *testing.T) (*replica.Memory, uint64) {
	t.Helper()
	store := replica.NewMemory()
	apply := func(cmd fsm.Command) any {
		v, err := store.Apply(context.Background(), cmd)
		if err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
		return v
	}
	apply(&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node001", Leaf: "l1"}, {Name: "node002", Leaf: "l1"}}, Time: store.Now()})
	for _, name := range []string{"alice", "bob"} {
		cmd := &fsm.CreateTenant{}
		cmd.Tenant.Name, cmd.Tenant.TokenHash = name, auth.HashToken(name+"-token")
		apply(cmd)
	}
	id := apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 2, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: store.Now()}).(uint64)
	apply(&fsm.Allocate{JobID: id, Nodes: []string{"node001", "node002"}, Time: store.Now()})
	apply(&fsm.StartJob{JobID: id, Time: store.Now()})
	return store, id
}

func finishJob(t *testing.T, store *replica.Memory, id uint64) {
	t.Helper()
	zero := 0
	if _, err := store.Apply(context.Background(), &fsm.FinishJob{JobID: id, State: model.JobCompleted, ExitCode: &zero, Time: store.Now()}); err != nil {
		t.Fatal(err)
	}
}

func dial(t *testing.T, addrs, token string) *client.Client {
	t.Helper()
	cl, err := client.New(addrs, token, client.WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// collect streams the job's logs into per-node buffers, checking the
// chunks' offsets and sizes on the way.
func collect(t *testing.T, cl *client.Client, req *pb.StreamLogsRequest) (map[string][]byte, map[string]bool, error) {
	out, eof := map[string][]byte{}, map[string]bool{}
	sent := map[string]int64{} // by node and stream: each has its offsets
	err := cl.StreamLogs(context.Background(), req, func(c *pb.LogChunk) error {
		if len(c.Data) > logChunkBytes {
			t.Errorf("chunk of %d bytes, more than %d", len(c.Data), logChunkBytes)
		}
		if k := c.Node + "/" + c.Stream; c.Offset != sent[k] {
			t.Errorf("%s: chunk at %d after %d bytes", k, c.Offset, sent[k])
		}
		sent[c.Node+"/"+c.Stream] += int64(len(c.Data))
		out[c.Node] = append(out[c.Node], c.Data...)
		eof[c.Node] = eof[c.Node] || c.Eof
		return nil
	})
	return out, eof, err
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

// TestStreamLogsLargeOutputWhole: 20 MB of one node's output and a
// little of the other's arrive whole, in order, in chunks of at most
// 1 MiB, each node ending with eof once the job ended.
func TestStreamLogsLargeOutputWhole(t *testing.T) {
	store, id := newLogsStore(t)
	l := startLogsAPI(t, store, true)
	big, small := pattern(20<<20+17, 1), []byte("hello from node002\n")
	l.outputs.write(id, "node001", big)
	l.outputs.write(id, "node002", small)
	finishJob(t, store, id)

	out, eof, err := collect(t, dial(t, l.addr, "alice-token"), &pb.StreamLogsRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out["node001"], big) || !bytes.Equal(out["node002"], small) {
		t.Fatalf("got %d and %d bytes, want %d and %d, equal", len(out["node001"]), len(out["node002"]), len(big), len(small))
	}
	if !eof["node001"] || !eof["node002"] {
		t.Fatalf("eof %v, want both", eof)
	}
	if l.outputs.max > logChunkBytes {
		t.Fatalf("asked the executor for %d bytes at once", l.outputs.max)
	}
}

// TestStreamLogsFollow: with follow, output written while the job runs
// keeps arriving, and the stream ends once the job ended and the rest
// was sent.
func TestStreamLogsFollow(t *testing.T) {
	store, id := newLogsStore(t)
	l := startLogsAPI(t, store, true)
	cl := dial(t, l.addr, "alice-token")
	l.outputs.write(id, "node001", []byte("first\n"))
	got := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- cl.StreamLogs(context.Background(), &pb.StreamLogsRequest{JobId: id, Node: "node001", Follow: true}, func(c *pb.LogChunk) error {
			if len(c.Data) > 0 {
				got <- string(c.Data)
			}
			return nil
		})
	}()
	if s := <-got; s != "first\n" {
		t.Fatalf("first chunk %q", s)
	}
	l.outputs.write(id, "node001", []byte("second\n"))
	if s := <-got; s != "second\n" {
		t.Fatalf("second chunk %q", s)
	}
	select {
	case err := <-done:
		t.Fatalf("stream ended while the job runs: %v", err)
	default:
	}
	l.outputs.write(id, "node001", []byte("last\n"))
	finishJob(t, store, id)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(got)
	var rest string
	for s := range got {
		rest += s
	}
	if rest != "last\n" {
		t.Fatalf("after the second chunk: %q, want the last line", rest)
	}
}

// TestStreamLogsAuthz: another tenant's job is not found; a node the job
// did not run on is refused; no token is unauthenticated.
func TestStreamLogsAuthz(t *testing.T) {
	store, id := newLogsStore(t)
	l := startLogsAPI(t, store, true)
	for _, tc := range []struct {
		token, node string
		code        codes.Code
		msg         string
	}{
		{"bob-token", "", codes.NotFound, "not found"},
		{"alice-token", "node009", codes.NotFound, "did not run on node009"},
		{"nobody", "", codes.Unauthenticated, "not recognised"},
	} {
		_, _, err := collect(t, dial(t, l.addr, tc.token), &pb.StreamLogsRequest{JobId: id, Node: tc.node})
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s on %q: %v, want %s %q", tc.token, tc.node, err, tc.code, tc.msg)
		}
	}
}

// TestStreamLogsFollowerSendsToLeader: a follower answers Unavailable
// naming the leader and the client streams from the leader.
func TestStreamLogsFollowerSendsToLeader(t *testing.T) {
	store, id := newLogsStore(t)
	leader := startLogsAPI(t, store, true)
	follower := startLogsAPI(t, store, false)
	cmd := &fsm.RegisterServer{Server: model.Server{ID: "ibexd-1", RaftAddr: "127.0.0.1:1", APIAddr: leader.addr}}
	if _, err := store.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	leader.outputs.write(id, "node001", []byte("from the leader\n"))
	finishJob(t, store, id)

	// The client tries the follower first.
	out, _, err := collect(t, dial(t, follower.addr+","+leader.addr, "alice-token"), &pb.StreamLogsRequest{JobId: id, Node: "node001"})
	if err != nil {
		t.Fatal(err)
	}
	if string(out["node001"]) != "from the leader\n" {
		t.Fatalf("output %q", out["node001"])
	}
	if follower.outputs.reads != 0 {
		t.Fatalf("the follower read output %d times", follower.outputs.reads)
	}
}
