package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/replica"
)

// fakeRunner plays the nodes: script runs each exec, writing its events,
// and must close the channel.
type fakeRunner struct {
	script func(ctx context.Context, task *pb.ExecTask, ch chan<- *pb.ExecEvent)

	mu    sync.Mutex
	tasks []*pb.ExecTask
	nodes []string
	err   error
}

func (f *fakeRunner) Exec(ctx context.Context, node string, task *pb.ExecTask) (<-chan *pb.ExecEvent, error) {
	f.mu.Lock()
	f.tasks, f.nodes = append(f.tasks, task), append(f.nodes, node)
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ch := make(chan *pb.ExecEvent, 4)
	go f.script(ctx, task, ch)
	return ch, nil
}

func (f *fakeRunner) last() (string, *pb.ExecTask) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tasks) == 0 {
		return "", nil
	}
	return f.nodes[len(f.nodes)-1], f.tasks[len(f.tasks)-1]
}

// untilKilled is a process that prints a line and runs until ibex kills it.
func untilKilled(ctx context.Context, _ *pb.ExecTask, ch chan<- *pb.ExecEvent) {
	defer close(ch)
	ch <- &pb.ExecEvent{Stdout: []byte("up\n")}
	<-ctx.Done()
	ch <- &pb.ExecEvent{Done: true, ExitCode: 137, Signal: "killed", Reason: "killed by ibex"}
}

// testEnv is a leading store with tenants alice and bob, a running
// allocation of alice's on node1 and node2, and the Launch API over real
// gRPC.
type testEnv struct {
	store         *replica.Memory
	run           *fakeRunner
	addr          string
	alice, bob    string // tokens
	job, otherJob uint64
	conn          *grpc.ClientConn
}

func newTestEnv(t *testing.T, script func(context.Context, *pb.ExecTask, chan<- *pb.ExecEvent)) *testEnv {
	t.Helper()
	e := &testEnv{store: replica.NewMemory(), run: &fakeRunner{script: script}, alice: auth.NewToken(), bob: auth.NewToken()}
	e.apply(t, &fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node1", Leaf: "l1"}, {Name: "node2", Leaf: "l1"}, {Name: "node3", Leaf: "l1"}}})
	for name, tok := range map[string]string{"alice": e.alice, "bob": e.bob} {
		cmd := &fsm.CreateTenant{}
		cmd.Tenant.Name, cmd.Tenant.TokenHash = name, auth.HashToken(tok)
		e.apply(t, cmd)
	}
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, &fsm.SetClusterSecrets{Secrets: sec})
	e.job = e.startAlloc(t, "alice", "node1", "node2")
	e.otherJob = e.startAlloc(t, "alice", "node3")
	e.addr = serve(t, e.store, e.run, func() string { return "" })
	e.conn = dial(t, e.addr)
	return e
}

func (e *testEnv) apply(t *testing.T, cmd fsm.Command) any {
	t.Helper()
	v, err := e.store.Apply(context.Background(), cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return v
}

func (e *testEnv) startAlloc(t *testing.T, tenant string, nodes ...string) uint64 {
	id := e.apply(t, &fsm.SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: len(nodes), TimeLimit: time.Hour, Interactive: true}, Time: e.store.Now()}).(uint64)
	e.apply(t, &fsm.Allocate{JobID: id, Nodes: nodes, Time: e.store.Now()})
	e.apply(t, &fsm.StartJob{JobID: id, Time: e.store.Now()})
	return id
}

func (e *testEnv) jobState(id uint64) (model.JobState, string) {
	var st model.JobState
	var reason string
	e.store.Read(func(s *fsm.State) { st, reason = s.Jobs[id].State, s.Jobs[id].Reason })
	return st, reason
}

func serve(t *testing.T, store replica.Store, run Runner, leader func() string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.UnaryInterceptor(auth.Unary(store)))
	pb.RegisterLaunchServer(gs, New(Config{Store: store, Exec: run, AdvertiseAPI: lis.Addr().String(), LeaderAPI: leader,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// execResult is what a caller of Exec saw.
type execResult struct {
	stdout, stderr string
	last           *pb.ExecOutput
	err            error
}

func execOn(ctx context.Context, conn *grpc.ClientConn, tok string, req *pb.ExecRequest) execResult {
	var r execResult
	s, err := pb.NewLaunchClient(conn).Exec(withToken(ctx, tok), req)
	if err != nil {
		r.err = err
		return r
	}
	for {
		m, err := s.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return r
		}
		r.stdout += string(m.Stdout)
		r.stderr += string(m.Stderr)
		if m.Done {
			r.last = m
		}
	}
}

func TestExecBuildsTaskAndRelaysEvents(t *testing.T) {
	e := newTestEnv(t, func(ctx context.Context, task *pb.ExecTask, ch chan<- *pb.ExecEvent) {
		defer close(ch)
		ch <- &pb.ExecEvent{Stdout: []byte("out\n")}
		ch <- &pb.ExecEvent{Stderr: []byte("err\n")}
		ch <- &pb.ExecEvent{Done: true, ExitCode: 3}
	})
	r := execOn(context.Background(), e.conn, e.alice, &pb.ExecRequest{JobId: e.job, Node: "node2", Argv: []string{"echo", "hi"}, Shell: true, Workdir: "/w", TasksPerNode: 2, SlurmEnv: true})
	if r.err != nil || r.stdout != "out\n" || r.stderr != "err\n" || r.last == nil || r.last.ExitCode != 3 || r.last.Reason != "" {
		t.Fatalf("caller saw %+v", r)
	}
	node, task := e.run.last()
	if node != "node2" || task.JobId != e.job || !slices.Equal(task.Nodes, []string{"node1", "node2"}) || task.NodeIndex != 1 ||
		!task.Shell || task.Workdir != "/w" || task.TasksPerNode != 2 || !task.SlurmEnv || task.Mpi != "" {
		t.Fatalf("task to %s: %v", node, task)
	}
	var cred string
	for _, kv := range task.Env {
		if v, ok := strings.CutPrefix(kv, "IBEX_JOB_TOKEN="); ok {
			cred = v
		}
	}
	sec, _ := e.store.ClusterSecrets()
	valid := auth.CheckJobCredential(sec, e.job, cred)
	if !valid || !slices.Contains(task.Env, "IBEX_TOKEN=") || !slices.Contains(task.Env, "IBEX_ADDR="+e.addr) {
		t.Fatalf("environment %q", task.Env)
	}
	// The job's credential opens its own job, on the node MPI starts on.
	r = execOn(context.Background(), e.conn, cred, &pb.ExecRequest{Argv: []string{"./app"}, Mpi: "auto"})
	if node, task := e.run.last(); r.err != nil || node != "node1" || task.JobId != e.job || task.Mpi != "auto" {
		t.Fatalf("with the job credential: %v; task to %s: %v", r.err, node, task)
	}
}

func TestExecRefusals(t *testing.T) {
	e := newTestEnv(t, untilKilled)
	sec, _ := e.store.ClusterSecrets()
	otherCred, _ := auth.JobCredential(sec, e.otherJob)
	for _, c := range []struct {
		tok  string
		req  *pb.ExecRequest
		code codes.Code
		msg  string
	}{
		{e.bob, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"true"}}, codes.NotFound, "not found"},
		{otherCred, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"true"}}, codes.PermissionDenied, "not valid for job"},
		{otherCred[:len(otherCred)-2] + "xx", &pb.ExecRequest{Node: "node3", Argv: []string{"true"}}, codes.PermissionDenied, "not valid for job"},
		{e.alice, &pb.ExecRequest{Node: "node1", Argv: []string{"true"}}, codes.InvalidArgument, "which job?"},
		{e.alice, &pb.ExecRequest{JobId: e.job, Node: "node3", Argv: []string{"true"}}, codes.FailedPrecondition, "not one of job"},
		{e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1"}, codes.InvalidArgument, "command of 1 to"},
		{e.alice, &pb.ExecRequest{JobId: e.job, Argv: []string{"x"}, Mpi: "lam"}, codes.InvalidArgument, "unknown MPI"},
		{e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"x"}, TasksPerNode: 5000}, codes.InvalidArgument, "tasks per node"},
	} {
		r := execOn(context.Background(), e.conn, c.tok, c.req)
		if status.Code(r.err) != c.code || !strings.Contains(r.err.Error(), c.msg) {
			t.Errorf("%v: %v, want %v %q", c.req, r.err, c.code, c.msg)
		}
	}
	if _, task := e.run.last(); task != nil {
		t.Fatalf("a refused exec reached a node: %v", task)
	}
	// The node refuses: the error reaches the caller.
	e.run.script = func(_ context.Context, _ *pb.ExecTask, ch chan<- *pb.ExecEvent) {
		ch <- &pb.ExecEvent{Done: true, ExitCode: 255, Error: "--mpi auto: ./app links no MPI library"}
		close(ch)
	}
	r := execOn(context.Background(), e.conn, e.alice, &pb.ExecRequest{JobId: e.job, Argv: []string{"./app"}, Mpi: "auto"})
	if status.Code(r.err) != codes.FailedPrecondition || !strings.Contains(r.err.Error(), "exec on node1: --mpi auto: ./app links no MPI library") {
		t.Fatalf("node refusal: %v", r.err)
	}
	// So does a node whose agent is away.
	e.run.err = status.Error(codes.Unavailable, "the agent of node1 is not connected")
	r = execOn(context.Background(), e.conn, e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"x"}})
	if status.Code(r.err) != codes.Unavailable {
		t.Fatalf("agent away: %v", r.err)
	}
	e.run.err = nil
	// An ended job is no longer served, with any token.
	e.apply(t, &fsm.FinishJob{JobID: e.otherJob, State: model.JobCompleted, Time: e.store.Now()})
	r = execOn(context.Background(), e.conn, otherCred, &pb.ExecRequest{Node: "node3", Argv: []string{"true"}})
	if status.Code(r.err) != codes.FailedPrecondition || !strings.Contains(r.err.Error(), "is completed, not running") {
		t.Fatalf("ended job: %v", r.err)
	}
}

// TestExecKilledWhenJobEnds: ending the job kills the exec (the runner's
// context ends) and tells the caller why.
func TestExecKilledWhenJobEnds(t *testing.T) {
	e := newTestEnv(t, untilKilled)
	done := make(chan execResult, 1)
	go func() {
		done <- execOn(context.Background(), e.conn, e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"sleep", "300"}})
	}()
	waitFor(t, func() bool { _, task := e.run.last(); return task != nil })
	e.apply(t, &fsm.FinishJob{JobID: e.job, State: model.JobCancelled, Reason: "by alice", Time: e.store.Now()})
	r := <-done
	want := "job " + strconv.FormatUint(e.job, 10) + " ended: cancelled (by alice)"
	if r.err != nil || r.last == nil || r.last.ExitCode != 137 || r.last.Signal != "killed" || !r.last.JobEnded || r.last.Reason != want {
		t.Fatalf("caller saw %+v (want reason %q)", r.last, want)
	}
}

// TestExecKilledWhenCallerGoes: a caller that goes away kills the exec.
func TestExecKilledWhenCallerGoes(t *testing.T) {
	killed := make(chan struct{})
	e := newTestEnv(t, func(ctx context.Context, task *pb.ExecTask, ch chan<- *pb.ExecEvent) {
		untilKilled(ctx, task, ch)
		close(killed)
	})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := pb.NewLaunchClient(e.conn).Exec(withToken(ctx, e.alice), &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"sleep", "300"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Recv(); err != nil || string(m.Stdout) != "up\n" {
		t.Fatalf("first message %v, %v", m, err)
	}
	cancel()
	select {
	case <-killed:
	case <-time.After(20 * time.Second):
		t.Fatal("the exec outlived its caller")
	}
}

// TestExecNodeLost: a signal from outside ibex fails the job, naming the
// node; a Finish that races ahead of that still gets the reason.
func TestExecNodeLost(t *testing.T) {
	release := make(chan struct{})
	e := newTestEnv(t, func(ctx context.Context, task *pb.ExecTask, ch chan<- *pb.ExecEvent) {
		defer close(ch)
		<-release
		ch <- &pb.ExecEvent{Done: true, ExitCode: 137, Signal: "killed"}
	})
	done := make(chan execResult, 1)
	go func() {
		done <- execOn(context.Background(), e.conn, e.alice, &pb.ExecRequest{JobId: e.job, Node: "node2", Argv: []string{"/bin/sh", "-c", "PATH=/x; /usr/bin/orted -mca x"}})
	}()
	waitFor(t, func() bool { _, task := e.run.last(); return task != nil })
	// The launcher's Finish comes while the orted's exec is still open: it
	// waits for the exec to tell. Either it ends the job with the loss, or
	// the loss ended it first (which the CLI takes as done).
	finished := make(chan error, 1)
	go func() {
		j, err := pb.NewLaunchClient(e.conn).Finish(withToken(context.Background(), e.alice), &pb.FinishRequest{JobId: e.job, ExitCode: 1, Reason: "exit code 1"})
		if err == nil && (j.State != "failed" || !strings.HasPrefix(j.Reason, "lost node node2")) {
			err = fmt.Errorf("Finish ended the job %s: %q", j.State, j.Reason)
		}
		if status.Code(err) == codes.FailedPrecondition {
			err = nil
		}
		finished <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Finish start waiting; the test holds either way
	close(release)
	r := <-done
	want := "lost node node2: its exec'd orted was killed by signal 9 (killed) from outside ibex"
	if r.err != nil || r.last.Reason != want || r.last.ExitCode != 137 {
		t.Fatalf("caller saw %+v, %v", r.last, r.err)
	}
	if st, reason := e.jobState(e.job); st != model.JobFailed || reason != want {
		t.Fatalf("job %s: %q", st, reason)
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}

// TestFinishWaitsForOpenExecs checks the tracker Finish uses: a lost node
// recorded while Finish waits is the answer; with no open exec there is
// no wait.
func TestFinishWaitsForOpenExecs(t *testing.T) {
	tr := newExecTracker()
	if got := tr.lostReason(1, time.Hour); got != "" {
		t.Fatalf("no execs: %q", got)
	}
	tr.open(1)
	got := make(chan string, 1)
	go func() { got <- tr.lostReason(1, time.Hour) }()
	tr.lost(1, "lost node n")
	if r := <-got; r != "lost node n" {
		t.Fatalf("got %q", r)
	}
	tr.open(2)
	go func() { got <- tr.lostReason(2, time.Hour) }()
	tr.close(2) // ended without a loss
	if r := <-got; r != "" {
		t.Fatalf("got %q", r)
	}
	tr.close(1)
	tr.forget(1)
	if r := tr.lostReason(1, time.Hour); r != "" {
		t.Fatalf("forgotten, yet %q", r)
	}
}

// TestExecNodeGone: a channel that closes without a final event is a lost
// contact with the node, exit 255 as ssh reports it; the job goes on.
func TestExecNodeGone(t *testing.T) {
	e := newTestEnv(t, func(_ context.Context, _ *pb.ExecTask, ch chan<- *pb.ExecEvent) {
		ch <- &pb.ExecEvent{Stdout: []byte("partial")}
		close(ch)
	})
	r := execOn(context.Background(), e.conn, e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"x"}})
	if r.err != nil || r.stdout != "partial" || r.last.ExitCode != 255 || !strings.Contains(r.last.Reason, "lost contact with node1") {
		t.Fatalf("caller saw %+v, %v", r.last, r.err)
	}
	if st, _ := e.jobState(e.job); st != model.JobRunning {
		t.Fatalf("job %s", st)
	}
}

// TestExecForwardedToLeader: a follower relays Exec to the leader (whose
// gateway holds the agents' streams), both ways, token included.
func TestExecForwardedToLeader(t *testing.T) {
	e := newTestEnv(t, func(_ context.Context, task *pb.ExecTask, ch chan<- *pb.ExecEvent) {
		defer close(ch)
		ch <- &pb.ExecEvent{Stdout: []byte("from the leader\n")}
		ch <- &pb.ExecEvent{Done: true, ExitCode: 4}
	})
	follower := replica.NewMemory()
	follower.FSM = e.store.FSM // the same replicated state
	follower.SetLeader(false)
	nodeRun := &fakeRunner{script: untilKilled}
	faddr := serve(t, follower, nodeRun, func() string { return e.addr })
	fconn := dial(t, faddr)
	r := execOn(context.Background(), fconn, e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"x"}})
	if r.err != nil || r.stdout != "from the leader\n" || r.last.ExitCode != 4 {
		t.Fatalf("caller saw %+v, %v", r, r.err)
	}
	if _, task := nodeRun.last(); task != nil {
		t.Fatal("the follower ran the exec itself")
	}
	// Refusals come back with their codes.
	if r := execOn(context.Background(), fconn, e.bob, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"x"}}); status.Code(r.err) != codes.NotFound {
		t.Fatalf("bob through the follower: %v", r.err)
	}
	// No leader known: retry later.
	lonely := serve(t, follower, nodeRun, func() string { return "" })
	if r := execOn(context.Background(), dial(t, lonely), e.alice, &pb.ExecRequest{JobId: e.job, Node: "node1", Argv: []string{"x"}}); status.Code(r.err) != codes.Unavailable {
		t.Fatalf("no leader: %v", r.err)
	}
}

func TestCommandName(t *testing.T) {
	for argv, want := range map[string]string{
		"/bin/sh|-c|PATH=/usr/bin:$PATH ; export PATH ;   /usr/bin/orted -mca ess \"env\"": "orted",
		"/bin/sh|-c|\"/usr/bin/hydra_pmi_proxy\" --control-port 127.0.0.1:1":               "hydra_pmi_proxy",
		"/bin/sh|-c|sleep 10":                  "sleep",
		"/usr/bin/mpirun.openmpi|--hostfile|x": "mpirun.openmpi",
	} {
		if got := commandName(strings.Split(argv, "|")); got != want {
			t.Errorf("%q: %q, want %q", argv, got, want)
		}
	}
	if got := execName(&pb.ExecTask{Argv: []string{"PATH=/x;", "/usr/bin/orted", "-mca"}, Shell: true}); got != "orted" {
		t.Errorf("shell line: %q", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
