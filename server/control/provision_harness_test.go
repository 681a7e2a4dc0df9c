package control

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/replica"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

// The provisioning harness: a leader's loops over replica.Memory with
// every node's BMC a bmc.Fake (nothing is dialled), a fake agent fleet
// that the test (or settle) answers for, and the store's manual clock.

// fakeBMCs hands out one bmc.Fake per node and records the configs it was
// asked for (with the opened login).
type fakeBMCs struct {
	mu    sync.Mutex
	fakes map[string]bmc.BMC
	cfgs  map[string]bmc.Config
	opens int
}

func (f *fakeBMCs) Open(node string, cfg bmc.Config) (bmc.BMC, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	f.cfgs[node] = cfg
	return f.get(node), nil
}

// get returns node's BMC, a powered-on bmc.Fake unless the test put
// another there. The caller holds f.mu.
func (f *fakeBMCs) get(node string) bmc.BMC {
	b, ok := f.fakes[node]
	if !ok {
		fk := bmc.NewFake(bmc.StateOn, bmc.Firmware{ID: "BMC", Name: "BMC", Version: "1.45"}, bmc.Firmware{ID: "BIOS", Name: "BIOS", Version: "P79 v1.45"})
		f.fakes[node] = fk
		b = fk
	}
	return b
}

// fake returns node's bmc.Fake (creating it).
func (f *fakeBMCs) fake(node string) *bmc.Fake {
	f.mu.Lock()
	b := f.get(node)
	f.mu.Unlock()
	if fk, ok := b.(*bmc.Fake); ok {
		return fk
	}
	return b.(*lyingBMC).Fake
}

// lyingBMC accepts a power off and does nothing: its host stays On.
type lyingBMC struct{ *bmc.Fake }

func (l *lyingBMC) PowerOff(context.Context) error { return nil }

func (a *fakeAgents) taskIDs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, t := range a.tasks {
		if !slices.Contains(out, t.Id) {
			out = append(out, t.Id)
		}
	}
	return out
}

// testKey is the harness's key-encryption key.
var testKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

type provHarness struct {
	tb     testing.TB
	store  *replica.Memory
	exec   *fakeExec
	bmcs   *fakeBMCs
	agents *fakeAgents
	keys   *secretkey.Keyring
	cfg    Config
	loops  *Loops
	nodes  []string
}

const testImage = "rocky:9"

func newProvHarness(tb testing.TB, leaves, perLeaf int, mod func(*Config)) *provHarness {
	tb.Helper()
	fat := topology.FatTree{Spines: 1, Leaves: leaves, NodesPerLeaf: perLeaf}
	store := replica.NewMemory()
	var hosts []fabricview.Host
	var specs []fsm.NodeSpec
	h := &provHarness{tb: tb, store: store, exec: newFakeExec(),
		bmcs:   &fakeBMCs{fakes: map[string]bmc.BMC{}, cfgs: map[string]bmc.Config{}},
		agents: &fakeAgents{connected: map[string]bool{}}}
	for _, host := range fat.Hosts() {
		hosts = append(hosts, fabricview.Host{Host: host})
		specs = append(specs, fsm.NodeSpec{Name: host.Name, Leaf: host.Leaf})
		h.nodes = append(h.nodes, host.Name)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	view, err := fabricview.New(store, fat, hosts, log)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := pkeypool.Pool{}.WithDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	if h.keys, err = secretkey.Parse([]byte(testKey)); err != nil {
		tb.Fatal(err)
	}
	h.cfg = Config{Store: store, Fabric: view, Exec: h.exec, Agents: h.agents, Keys: keys, Log: log, Tick: time.Second,
		BMCs: h.bmcs, Secrets: h.keys, CleanChainWait: time.Millisecond, // tasks are answered by hand
		Provision: ProvisionPolicy{RetryWait: time.Minute, PollEvery: time.Millisecond, FenceTimeout: 100 * time.Millisecond, PowerTimeout: time.Second}}
	if mod != nil {
		mod(&h.cfg)
	}
	h.loops = New(h.cfg)
	h.apply(&fsm.RegisterNodes{Nodes: specs, Time: store.Now()})
	h.apply(&fsm.CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "hash-alice"}})
	h.apply(&fsm.AddImage{Image: model.Image{Name: "rocky", Version: "9", Size: 1 << 20, SHA256: strings.Repeat("ab", 32), SourceURL: "http://images/rocky9"}})
	h.apply(&fsm.AddImage{Image: model.Image{Name: "alma", Version: "8", Size: 1 << 20, SHA256: strings.Repeat("cd", 32), SourceURL: "http://images/alma8"}})
	return h
}

// newLeader replaces the loops with fresh ones over the same replicated
// state, in a later term: what a failover does.
func (h *provHarness) newLeader() {
	h.store.SetTerm(h.store.Term() + 1)
	h.loops = New(h.cfg)
}

func (h *provHarness) apply(cmd fsm.Command) any {
	h.tb.Helper()
	v, err := h.store.Apply(context.Background(), cmd)
	if err != nil {
		h.tb.Fatalf("%T: %v", cmd, err)
	}
	return v
}

func (h *provHarness) node(name string) *model.Node {
	var n *model.Node
	h.store.Read(func(st *fsm.State) {
		if m := st.Nodes[name]; m != nil {
			n = m.Clone()
		}
	})
	return n
}

func (h *provHarness) job(id uint64) model.Job {
	var j model.Job
	h.store.Read(func(st *fsm.State) {
		if found := st.Jobs[id]; found != nil {
			j = *found
		}
	})
	return j
}

// setBMC registers node's BMC as an admin would, the login sealed.
func (h *provHarness) setBMC(node string) {
	h.tb.Helper()
	b := model.NodeBMC{Endpoint: "https://bmc-" + node, SystemID: "1"}
	var err error
	if b.Credentials, err = h.keys.SealBMCLogin(node, b, "ibex", "pw-"+node); err != nil {
		h.tb.Fatal(err)
	}
	h.apply(&fsm.SetNodeBMC{Node: node, BMC: b, By: "admin", Time: h.store.Now()})
}

// enrollAgent enrolls node's agent, connected, with a hardware report that
// matches its fake BMC.
func (h *provHarness) enrollAgent(node string) {
	h.tb.Helper()
	h.apply(&fsm.CreateJoinToken{Node: node, Hash: "tok-" + node, Expires: h.store.Now().Add(time.Hour)})
	h.apply(&fsm.Enroll{Node: node, TokenHash: "tok-" + node, CertSerial: "s-" + node, Time: h.store.Now()})
	h.agents.mu.Lock()
	h.agents.connected[node] = true
	h.agents.mu.Unlock()
	h.report(node, "1.45")
}

// report is the agent's hello: its hardware, with the BMC firmware
// version it read.
func (h *provHarness) report(node, bmcVersion string) {
	h.tb.Helper()
	inv := &pb.HardwareInventory{PowerState: "On", BmcFirmware: []*pb.FirmwareInfo{{Id: "BMC", Name: "BMC", Version: bmcVersion, Known: true}}}
	b, _ := json.Marshal(inv)
	h.apply(&fsm.NodeInventory{Node: node, Inventory: string(b), Time: h.store.Now()})
}

// provPass runs one provisioning pass and waits for its BMC operations.
func (h *provHarness) provPass() {
	h.loops.prov.pass(context.Background())
	h.loops.prov.wait()
}

// agentsWork plays every connected agent: each node's running task
// succeeds (an image task leaves the image verified on disk).
func (h *provHarness) agentsWork() {
	var done []*fsm.TaskDone
	h.store.Read(func(st *fsm.State) {
		for _, n := range st.Nodes {
			if n.Task != nil && h.agents.Connected(n.Name) {
				done = append(done, &fsm.TaskDone{Node: n.Name, TaskID: n.Task.ID, OK: true, Evidence: `{"verified":true}`,
					Answer: honestAnswer(h.tb, n.Task)})
			}
		}
	})
	for _, d := range done {
		d.Time = h.store.Now()
		h.apply(d)
	}
	for node, task := range h.agents.handouts() {
		if h.agents.Connected(node) {
			h.apply(&fsm.HandoutChecked{Node: node, ID: task.GetId(), OK: true, Answer: honestHandout(h.tb, task), Time: h.store.Now()})
		}
	}
}

// checkIns plays the agents of nodes waiting for a check-in after a boot:
// they say hello again.
func (h *provHarness) checkIns() {
	var due []string
	h.store.Read(func(st *fsm.State) {
		for _, n := range st.Nodes {
			if p := n.Prov; p != nil && p.State == model.ProvDeploying && (p.Step == model.StepRamdisk || p.Step == model.StepCheckIn) &&
				!n.InventoryAt.After(p.Since) && h.agents.Connected(n.Name) {
				due = append(due, n.Name)
			}
		}
	})
	for _, n := range due {
		h.report(n, "1.45")
	}
}

// settle runs passes of every loop, with agents that answer at once and a
// clock that moves a second per round, until nothing changes.
func (h *provHarness) settle() {
	h.tb.Helper()
	ctx := context.Background()
	for range 200 {
		before := h.store.FSM.View().Index
		h.store.Advance(time.Second)
		h.loops.jobs.reconcile(ctx)
		h.loops.jobs.steps.wait()
		h.provPass()
		h.agentsWork()
		h.checkIns()
		if h.store.FSM.View().Index == before {
			return
		}
	}
	h.tb.Fatal("the loops did not settle in 200 rounds")
}

// allocate runs the job loop until the pending jobs are allocated: a
// pass sends the hand-out checks of the plan's nodes, the agents answer
// them, and the next pass commits the plan.
func (h *provHarness) allocate() {
	ctx := context.Background()
	h.loops.jobs.reconcile(ctx)
	h.loops.jobs.steps.wait()
	h.agentsWork()
	h.loops.jobs.reconcile(ctx)
	h.loops.jobs.steps.wait()
}

// available takes node to available: agent enrolled (if withAgent), BMC
// registered, inspected and cleaned.
func (h *provHarness) available(node string, withAgent bool) {
	h.tb.Helper()
	if withAgent {
		h.enrollAgent(node)
	}
	h.setBMC(node)
	h.settle()
	if n := h.node(node); n.ProvisionState() != model.ProvAvailable {
		h.tb.Fatalf("%s is %s (%s), want available; prov %+v", node, n.ProvisionState(), n.Reason, n.Prov)
	}
}

func (h *provHarness) submit(n int) uint64 {
	h.tb.Helper()
	v := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: n, TimeLimit: time.Hour, Argv: []string{"true"}}, Time: h.store.Now()})
	return v.(uint64)
}

// ledgerSteps lists node's ledger steps from the provisioning loop.
func (h *provHarness) ledgerSteps(node string) []string {
	var out []string
	h.store.Read(func(st *fsm.State) {
		for _, e := range st.Ledger[node] {
			if strings.HasPrefix(e.Step, "provision:") || e.Step == "quarantine" {
				out = append(out, strings.TrimPrefix(e.Step, "provision:"))
			}
		}
	})
	return out
}

func (h *provHarness) lastLedger(node string) model.LedgerEntry {
	var e model.LedgerEntry
	h.store.Read(func(st *fsm.State) {
		l := st.Ledger[node]
		e = l[len(l)-1]
	})
	return e
}

func (h *provHarness) String() string {
	var b strings.Builder
	for _, name := range h.nodes {
		n := h.node(name)
		fmt.Fprintf(&b, "%s %s %s %+v\n", name, n.State, n.ProvisionState(), n.Prov)
	}
	return b.String()
}
