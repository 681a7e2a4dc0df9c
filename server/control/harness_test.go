package control

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/replica"
)

// The harness runs the leader's loops one pass at a time against
// replica.Memory (a real FSM without raft), a scripted executor and the
// in-memory subnet manager, in the style of Nomad's scheduler harness: a
// test sets up state, runs passes, and asserts what was committed.

// fakeExec is an Executor whose processes are entries in a map. Failures
// are set per node.
type fakeExec struct {
	mu        sync.Mutex
	phase     map[string]Status // by "job/node"
	started   []string
	tasks     []Task // every Start, in order
	killed    []string
	failStart map[string]error // by node
	failClean error
	// onStart, when set, runs at the start of every Start (outside the
	// lock), e.g. to commit a cancel that races the launch.
	onStart func(Task)
}

func newFakeExec() *fakeExec {
	return &fakeExec{phase: map[string]Status{}, failStart: map[string]error{}}
}

func key(job uint64, node string) string { return fmt.Sprintf("%d/%s", job, node) }

func (f *fakeExec) Start(t Task) error {
	if f.onStart != nil {
		f.onStart(t)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failStart[t.Node]; err != nil {
		return err
	}
	f.tasks = append(f.tasks, t)
	f.started = append(f.started, key(t.JobID, t.Node))
	f.phase[key(t.JobID, t.Node)] = Status{Phase: Running}
	return nil
}

func (f *fakeExec) Status(job uint64, node string) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.phase[key(job, node)], nil
}

func (f *fakeExec) Kill(job uint64, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.killed = append(f.killed, key(job, node))
	return nil
}

func (f *fakeExec) Clean(job uint64, node string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failClean != nil {
		return "", f.failClean
	}
	return "no processes left", nil
}

func (f *fakeExec) Output(uint64, string, int64) ([]byte, error) { return nil, nil }

func (f *fakeExec) ReadOutput(context.Context, uint64, string, int64, int) ([]byte, bool, error) {
	return nil, true, nil
}

// exit makes the process of job on node exit with code.
func (f *fakeExec) exit(job uint64, node string, code int) {
	f.mu.Lock()
	f.phase[key(job, node)] = Status{Phase: Exited, ExitCode: code}
	f.mu.Unlock()
}

func (f *fakeExec) set(job uint64, node string, st Status) {
	f.mu.Lock()
	f.phase[key(job, node)] = st
	f.mu.Unlock()
}

// harness is a leader with 2 leaves × 2 nodes.
type harness struct {
	t     *testing.T
	store *replica.Memory
	exec  *fakeExec
	loops *Loops
	sm    *simsm.SM
}

func newHarness(t *testing.T, keys pkeypool.Pool, withSM bool) *harness {
	t.Helper()
	return newHarnessOn(t, keys, withSM, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 2})
}

// newHarnessOn is newHarness on another fat tree.
func newHarnessOn(t *testing.T, keys pkeypool.Pool, withSM bool, fat topology.FatTree) *harness {
	t.Helper()
	store := replica.NewMemory()
	var hosts []fabricview.Host
	var guids []sm.GUID
	var specs []fsm.NodeSpec
	for i, h := range fat.Hosts() {
		g := sm.GUID(ibsim.HostPortGUID(i + 1))
		hosts = append(hosts, fabricview.Host{Host: h, Ports: []sm.GUID{g}})
		guids = append(guids, g)
		specs = append(specs, fsm.NodeSpec{Name: h.Name, Leaf: h.Leaf})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	view, err := fabricview.New(store, fat, hosts, log)
	if err != nil {
		t.Fatal(err)
	}
	keys, err = keys.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, exec: newFakeExec()}
	// The tests answer agent tasks by hand, often after the pass that sent
	// them: a cleaning chain would wait out its 2 s for each.
	cfg := Config{Store: store, Fabric: view, Exec: h.exec, Keys: keys, Log: log, Tick: time.Second, CleanChainWait: time.Millisecond}
	if withSM {
		h.sm = simsm.New(guids, sm.TenantIsolation)
		cfg.SM = h.sm
	}
	h.loops = New(cfg)
	h.apply(&fsm.RegisterNodes{Nodes: specs, Time: store.Now()})
	for _, name := range []string{"alice", "bob"} {
		cmd := &fsm.CreateTenant{}
		cmd.Tenant.Name, cmd.Tenant.TokenHash = name, "hash-"+name
		h.apply(cmd)
	}
	store.Applied()
	return h
}

func (h *harness) apply(cmd fsm.Command) any {
	h.t.Helper()
	v, err := h.store.Apply(context.Background(), cmd)
	if err != nil {
		h.t.Fatalf("%T: %v", cmd, err)
	}
	return v
}

// submit queues a batch job of n nodes for tenant and returns its id.
func (h *harness) submit(tenant string, n int, limit time.Duration) uint64 {
	h.t.Helper()
	v := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: n, TimeLimit: limit, Argv: []string{"true"}}, Time: h.store.Now()})
	id, ok := v.(uint64)
	if !ok {
		h.t.Fatalf("submit returned %T", v)
	}
	return id
}

// pass runs one pass of the job controller, then one of the partitions
// controller (when there is a subnet manager).
func (h *harness) pass() {
	ctx := context.Background()
	h.loops.jobs.reconcile(ctx)
	h.loops.jobs.steps.wait()
	if h.loops.parts != nil {
		h.loops.parts.reconcile(ctx)
	}
}

func (h *harness) job(id uint64) model.Job {
	var j model.Job
	h.store.Read(func(st *fsm.State) {
		if found := st.Jobs[id]; found != nil {
			j = *found
		}
	})
	return j
}

func (h *harness) node(name string) model.Node {
	var n model.Node
	h.store.Read(func(st *fsm.State) {
		if found := st.Nodes[name]; found != nil {
			n = *found
		}
	})
	return n
}

var errBoom = errors.New("boom")

// fakeAgents is the agents' side of the gateway: which agents are
// connected (with connected set, only those; else all but disconnected)
// and what was dispatched to them.
type fakeAgents struct {
	mu           sync.Mutex
	tasks        []*pb.AgentTask
	nodes        []string
	connected    map[string]bool
	disconnected map[string]bool
	seen         int // tasks handouts() has returned
}

func (f *fakeAgents) up(node string) bool {
	if f.connected != nil {
		return f.connected[node]
	}
	return !f.disconnected[node]
}

func (f *fakeAgents) Dispatch(node string, t *pb.AgentTask) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks = append(f.tasks, t)
	f.nodes = append(f.nodes, node)
	return f.up(node)
}

func (f *fakeAgents) Connected(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up(node)
}

// honestAnswer is what an honest agent answers to the leader's challenge
// of task on a simulated node: a 1 MiB disk holding the challenge's
// pattern everywhere, the catalog's image blocks, no firmware policy
// (the harness pins none). "" for a task without a challenge.
func honestAnswer(t testing.TB, task *model.NodeTask) string {
	c := task.Challenge
	if c == nil {
		return ""
	}
	a := model.Answer{Nonce: c.Nonce}
	switch task.Kind {
	case model.TaskErase:
		const size = 1 << 20
		pattern, _ := hex.DecodeString(c.Pattern)
		if len(pattern) == 0 {
			pattern = []byte{0}
		}
		offs, ss := model.EraseOffsets(size, c.SampleSize, c.Draws)
		e := &model.EraseAnswer{Method: "overwrite", Pattern: hex.EncodeToString(pattern), DiskSize: size, BytesErased: size, SampleSize: ss}
		for _, off := range offs {
			buf := make([]byte, ss)
			for i := range buf {
				buf[i] = pattern[(off+int64(i))%int64(len(pattern))]
			}
			e.Samples = append(e.Samples, model.SampleAnswer{Offset: off, SHA256: model.SampleDigest(c.Nonce, off, buf)})
		}
		a.Erase = e
	case model.TaskImage:
		a.Image = &model.ImageAnswer{Image: task.Image}
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// honestHandout is an honest agent's answer to a hand-out check on a
// simulated node: nothing left of earlier jobs, the catalog's image, and
// (when asked) a port holding only the limited default key.
func honestHandout(t testing.TB, task *pb.AgentTask) string {
	var c model.Challenge
	if err := json.Unmarshal([]byte(task.GetChallengeJson()), &c); err != nil {
		t.Fatal(err)
	}
	a := model.Answer{Nonce: c.Nonce, Procs: &model.ProcAnswer{Checked: []string{"job cgroups"}}}
	if c.Image != "" {
		a.Image = &model.ImageAnswer{Image: c.Image}
	}
	if c.PKeys {
		a.PKeys = &model.PKeyAnswer{Ports: []model.PortKeys{{Port: "mlx5_0/1", Keys: []uint16{0x7fff}}}}
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
