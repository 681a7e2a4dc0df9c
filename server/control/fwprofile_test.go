package control

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Firmware profiles through the leader's loops, against replica.Memory,
// with agents simulated here: each node's HCA is a version and settings
// that an honest agent converges to what a firmware task asks and reports
// as found and after (the real agent's side is nodeagent/agent's tests).

const (
	simPSID     = "MT_0000000223"
	simShipped  = "20.31.1014"
	simBaseline = "20.31.2006"
	simTinker   = "20.32.1010"
)

type simHCA struct {
	version string
	cfg     map[string]string // current = next; defaults "0"
}

type fwSim struct {
	t           testing.TB
	hcas        map[string]*simHCA
	failProfile bool
	// quarantine: a failing profile task says the HCA was touched (the
	// agent's *firmware.QuarantineError) after burning the profile's
	// firmware.
	quarantine  bool
	profileRuns int
	settingSeen map[string]string // the profile task's wire settings, as sent
}

func newFWSim(t testing.TB, nodes ...string) *fwSim {
	s := &fwSim{t: t, hcas: map[string]*simHCA{}, settingSeen: map[string]string{}}
	for _, n := range nodes {
		s.hcas[n] = &simHCA{version: simShipped, cfg: map[string]string{"SRIOV_EN": "0", "NUM_OF_VFS": "0"}}
	}
	return s
}

// device is node's HCA as an agent reads it, with the settings c names.
func (s *fwSim) device(node string, c *model.Challenge) model.FirmwareDevice {
	h := s.hcas[node]
	d := model.FirmwareDevice{Device: "mlx5_0", PSID: simPSID, Readings: []model.FirmwareReading{
		{Source: model.ReadingFlash, Version: h.version}, {Source: model.ReadingRunning, Version: h.version}, {Source: model.ReadingSysfs, Version: h.version}}}
	if c != nil {
		for k := range c.WantSettings(simPSID) {
			d.Config = append(d.Config, model.ConfigReading{Key: k, Default: "0", Current: h.cfg[k], Next: h.cfg[k]})
		}
	}
	return d
}

// firmware runs a firmware or profile task on node's HCA.
func (s *fwSim) firmware(node string, task *model.NodeTask) (ok bool, answer string) {
	c := task.Challenge
	before := s.device(node, c)
	if task.Kind == model.TaskFirmwareProfile {
		s.profileRuns++
		if s.failProfile {
			if s.quarantine {
				s.hcas[node].version = c.Pins[simPSID]
			}
			return false, ""
		}
	}
	h := s.hcas[node]
	if v, ok := c.Pins[simPSID]; ok {
		h.version = v
	}
	for k, v := range c.WantSettings(simPSID) {
		if v == "" {
			v = "0"
		}
		h.cfg[k] = v
	}
	a := model.Answer{Nonce: c.Nonce, Firmware: &model.FirmwareAnswer{Devices: []model.FirmwareDevice{s.device(node, c)}}}
	if c.Before {
		a.Firmware.Before = []model.FirmwareDevice{before}
	}
	b, err := json.Marshal(a)
	if err != nil {
		s.t.Fatal(err)
	}
	return true, string(b)
}

// work plays the agents for one round: every running task, and every
// hand-out check (with the HCA's readings).
func (s *fwSim) work(h *provHarness) {
	var done []*fsm.TaskDone
	h.store.Read(func(st *fsm.State) {
		for _, n := range st.Nodes {
			if n.Task == nil || !h.agents.Connected(n.Name) {
				continue
			}
			d := &fsm.TaskDone{Node: n.Name, TaskID: n.Task.ID, OK: true, Evidence: `{"simulated":true}`}
			if n.Task.Kind == model.TaskFirmware || n.Task.Kind == model.TaskFirmwareProfile {
				d.OK, d.Answer = s.firmware(n.Name, n.Task)
				if !d.OK {
					d.Error, d.Quarantine = "simulated: mstconfig refused the setting", s.quarantine
				}
			} else {
				d.Answer = honestAnswer(h.tb, n.Task)
			}
			done = append(done, d)
		}
	})
	for _, d := range done {
		d.Time = h.store.Now()
		h.apply(d)
	}
	for node, task := range h.agents.handouts() {
		var c model.Challenge
		if err := json.Unmarshal([]byte(task.GetChallengeJson()), &c); err != nil {
			s.t.Fatal(err)
		}
		a := model.Answer{Nonce: c.Nonce, Procs: &model.ProcAnswer{Checked: []string{"job cgroups"}},
			Firmware: &model.FirmwareAnswer{Devices: []model.FirmwareDevice{s.device(node, &c)}}}
		if c.Image != "" {
			a.Image = &model.ImageAnswer{Image: c.Image}
		}
		b, _ := json.Marshal(a)
		h.apply(&fsm.HandoutChecked{Node: node, ID: task.GetId(), OK: true, Answer: string(b), Time: h.store.Now()})
	}
	h.agents.mu.Lock()
	for _, t := range h.agents.tasks {
		for _, st := range t.GetFirmwareProfile().GetSettings() {
			s.settingSeen[st.GetKey()] = st.GetValue()
		}
	}
	h.agents.mu.Unlock()
}

func (s *fwSim) settle(h *provHarness) {
	h.tb.Helper()
	ctx := context.Background()
	for range 200 {
		before := h.store.FSM.View().Index
		h.store.Advance(time.Second)
		h.loops.jobs.reconcile(ctx)
		h.loops.jobs.steps.wait()
		h.provPass()
		s.work(h)
		if h.store.FSM.View().Index == before {
			return
		}
	}
	h.tb.Fatal("the loops did not settle in 200 rounds")
}

func fwHarness(t *testing.T) (*provHarness, *fwSim) {
	h := newProvHarness(t, 1, 2, func(c *Config) {
		c.FirmwarePins = []FirmwarePin{{PSID: simPSID, Version: simBaseline, SHA256: strings.Repeat("a", 64), File: "fw-base.bin"}}
	})
	sim := newFWSim(t, "node001", "node002")
	for _, n := range []string{"node001", "node002"} {
		h.enrollAgent(n)
	}
	sim.settle(h)
	for _, n := range []string{"node001", "node002"} {
		if nd := h.node(n); nd.State != model.NodeReady || nd.FirmwareSeen == nil || nd.FirmwareSeen.Versions[simPSID] != simBaseline {
			t.Fatalf("%s after its first cleaning: %s %q, seen %+v", n, nd.State, nd.Reason, nd.FirmwareSeen)
		}
	}
	h.apply(&fsm.AddFirmwareProfile{Profile: model.FirmwareProfile{Name: "sriov", Kind: model.ProfileHCA,
		HCA: []model.HCAProfileRule{{PSID: simPSID, Version: simTinker, SHA256: strings.Repeat("b", 64), File: "fw-tinker.bin",
			Config: map[string]string{"SRIOV_EN": "1", "NUM_OF_VFS": "8"}}}}, By: "admin", Time: h.store.Now()})
	return h, sim
}

func (h *provHarness) submitProfile(n int, profile string) uint64 {
	h.tb.Helper()
	return h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: n, TimeLimit: time.Hour, Argv: []string{"true"}, FirmwareProfile: profile},
		Time: h.store.Now()}).(uint64)
}

// TestFirmwareProfileCycle: the job starts only after every node's agent
// applied the profile and the server verified it; after the job the
// cleaning restores the baseline (firmware and settings) before the nodes
// are ready again.
func TestFirmwareProfileCycle(t *testing.T) {
	h, sim := fwHarness(t)
	id := h.submitProfile(2, "sriov")
	var started bool
	h.exec.onStart = func(task Task) {
		// Nothing of the job runs before the profile is verified.
		if hca := sim.hcas[task.Node]; hca.version != simTinker || hca.cfg["SRIOV_EN"] != "1" {
			t.Errorf("job started on %s running %s with %v", task.Node, hca.version, hca.cfg)
		}
		if n := h.node(task.Node); n.FirmwareProfile != "sriov" {
			t.Errorf("job started on %s before the state recorded the profile (%q)", task.Node, n.FirmwareProfile)
		}
		started = true
	}
	sim.settle(h)
	if j := h.job(id); j.State != model.JobRunning || !started {
		t.Fatalf("job %s %q", j.State, j.Reason)
	}
	if sim.settingSeen["NUM_OF_VFS"] != "8" {
		t.Fatalf("the profile task carried settings %v", sim.settingSeen)
	}
	var entry model.LedgerEntry
	h.store.Read(func(st *fsm.State) {
		for _, e := range st.Ledger["node001"] {
			if e.Step == string(model.TaskFirmwareProfile) {
				entry = e
			}
		}
	})
	if !entry.OK || entry.JobID != id || entry.Tenant != "alice" || !strings.Contains(entry.Evidence, "20.32.1010 with") {
		t.Fatalf("profile ledger entry: %+v", entry)
	}

	h.exec.onStart = nil
	for _, n := range []string{"node001", "node002"} {
		h.exec.exit(id, n, 0)
	}
	sim.settle(h)
	for _, n := range []string{"node001", "node002"} {
		nd, hca := h.node(n), sim.hcas[n]
		if nd.State != model.NodeReady || nd.FirmwareProfile != "" || hca.version != simBaseline || hca.cfg["SRIOV_EN"] != "0" || hca.cfg["NUM_OF_VFS"] != "0" {
			t.Fatalf("%s after the job: %s %q profile %q, HCA %s %v", n, nd.State, nd.Reason, nd.FirmwareProfile, hca.version, hca.cfg)
		}
		if e := h.lastLedger(n); e.Step != "cleaned" {
			t.Fatalf("%s: last entry %+v", n, e)
		}
	}

	// A setting moved while the nodes sit free: the hand-out check before
	// the next allocation finds it (the settings ibex verified are in its
	// challenge), quarantines the node, and the job goes to the other.
	sim.hcas["node001"].cfg["SRIOV_EN"] = "1"
	id = h.submitProfile(1, "")
	sim.settle(h)
	if n := h.node("node001"); n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "SRIOV_EN") {
		t.Fatalf("node001 with a moved setting: %s %q", n.State, n.Reason)
	}
	if j := h.job(id); j.State != model.JobRunning || j.Nodes[0] != "node002" {
		t.Fatalf("job %s on %v", j.State, j.Nodes)
	}
}

// TestUnapprovedFirmwareQuarantinesNode: firmware a tenant flashed itself
// is found by the cleaning (the readings as found are neither the
// baseline nor the job's profile): the node is quarantined.
func TestUnapprovedFirmwareQuarantinesNode(t *testing.T) {
	h, sim := fwHarness(t)
	id := h.submitProfile(1, "sriov")
	sim.settle(h)
	j := h.job(id)
	if j.State != model.JobRunning {
		t.Fatalf("job %s %q", j.State, j.Reason)
	}
	node := j.Nodes[0]
	sim.hcas[node].version = "20.99.9999" // the tenant burns its own
	h.exec.exit(id, node, 0)
	sim.settle(h)
	n := h.node(node)
	if n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "unapproved firmware") {
		t.Fatalf("%s: %s %q", node, n.State, n.Reason)
	}
	if e := h.lastLedger(node); e.Step != "quarantine" || !strings.Contains(e.Evidence, `"20.99.9999"`) {
		t.Fatalf("ledger: %+v", e)
	}
	// The other node, untouched, is clean and ready.
	other := map[string]string{"node001": "node002", "node002": "node001"}[node]
	if n := h.node(other); n.State != model.NodeReady {
		t.Fatalf("%s: %s", other, n.State)
	}
}

// TestFirmwareProfileFailureFailsJob: a profile the agent cannot apply
// fails the job after the retry budget; the node's cleaning finds the
// baseline it left and readies it.
func TestFirmwareProfileFailureFailsJob(t *testing.T) {
	h, sim := fwHarness(t)
	sim.failProfile = true
	id := h.submitProfile(1, "sriov")
	sim.settle(h)
	j := h.job(id)
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "firmware profile sriov failed") || sim.profileRuns != model.MaxStepFailures {
		t.Fatalf("job %s %q after %d attempts", j.State, j.Reason, sim.profileRuns)
	}
	if len(h.exec.started) != 0 {
		t.Fatalf("the job was started: %v", h.exec.started)
	}
	if n := h.node(j.Nodes[0]); n.State != model.NodeReady || n.FirmwareProfile != "" {
		t.Fatalf("%s: %s %q", n.Name, n.State, n.Reason)
	}
}

// TestFirmwareProfileTouchedFailure: a profile task that failed after
// touching the HCA is not retried: the job fails at once, and the node's
// cleaning finds firmware nobody approved (the profile's, half applied)
// and quarantines it.
func TestFirmwareProfileTouchedFailure(t *testing.T) {
	h, sim := fwHarness(t)
	sim.failProfile, sim.quarantine = true, true
	id := h.submitProfile(1, "sriov")
	sim.settle(h)
	j := h.job(id)
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "firmware profile sriov failed") || sim.profileRuns != 1 {
		t.Fatalf("job %s %q after %d attempts", j.State, j.Reason, sim.profileRuns)
	}
	if n := h.node(j.Nodes[0]); n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "unapproved firmware") {
		t.Fatalf("%s: %s %q", n.Name, n.State, n.Reason)
	}
}
