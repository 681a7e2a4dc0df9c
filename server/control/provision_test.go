package control

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

// TestEnrollInspectCleanAvailable: a registered BMC is read with the
// login the loop opened, cross-checked with the agent's report, and the
// node is cleaned before it is available; every step is in the ledger.
func TestEnrollInspectCleanAvailable(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.enrollAgent("node001")
	h.setBMC("node001")
	if h.node("node001").Schedulable() {
		t.Fatal("a node with an uninspected BMC is schedulable")
	}
	h.settle()
	n := h.node("node001")
	if n.ProvisionState() != model.ProvAvailable || !n.Schedulable() {
		t.Fatalf("node001 %s, want available", n.ProvisionState())
	}
	cfg := h.bmcs.cfgs["node001"]
	if cfg.Endpoint != "https://bmc-node001" || cfg.SystemID != "1" || cfg.Username != "ibex" || cfg.Password.Reveal() != "pw-node001" {
		t.Fatalf("the BMC was opened with %+v", cfg)
	}
	steps := h.ledgerSteps("node001")
	if want := []string{"enroll", "inspect", "inspected"}; !slices.Equal(steps, want) {
		t.Fatalf("ledger %v, want %v", steps, want)
	}
	var inspected string
	h.store.Read(func(st *fsm.State) {
		for _, e := range st.Ledger["node001"] {
			if e.Step == "provision:inspected" {
				inspected = e.Evidence
			}
		}
	})
	if !strings.Contains(inspected, "BMC: power On") || !strings.Contains(inspected, "1 firmware versions agree") || strings.Contains(inspected, "pw-node001") {
		t.Fatalf("inspection evidence: %s", inspected)
	}
}

func TestInspectMismatchFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(h *provHarness)
		want  string
	}{
		{"firmware versions differ", func(h *provHarness) { h.report("node001", "1.44") }, `BMC: agent "1.44", BMC "1.45"`},
		{"the BMC says Off while the agent is connected", func(h *provHarness) {
			_ = h.bmcs.fake("node001").PowerOff(context.Background())
		}, "reports the host Off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newProvHarness(t, 1, 2, nil)
			h.enrollAgent("node001")
			tc.setup(h)
			h.setBMC("node001")
			h.settle()
			n := h.node("node001")
			if n.ProvisionState() != model.ProvInspectFailed || n.State != model.NodeQuarantined || !strings.Contains(n.Reason, tc.want) {
				t.Fatalf("node001 %s / %s (%q), want inspect-failed with %q", n.ProvisionState(), n.State, n.Reason, tc.want)
			}
			// Never available, however long the loops run.
			h.store.Advance(time.Hour)
			h.settle()
			if h.node("node001").Schedulable() {
				t.Fatal("an inspect-failed node became schedulable")
			}
		})
	}
}

// TestInspectWaitsForTheAgentReport: an agent that enrolled but never
// reported is waited for until the timeout, retried within the budget,
// then the inspection fails; no BMC error needed.
func TestInspectWaitsForTheAgentReport(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.apply(&fsm.CreateJoinToken{Node: "node001", Hash: "tok", Expires: h.store.Now().Add(time.Hour)})
	h.apply(&fsm.Enroll{Node: "node001", TokenHash: "tok", CertSerial: "1", Time: h.store.Now()})
	h.setBMC("node001")
	h.settle()
	if p := h.node("node001").Prov; p.State != model.ProvInspecting || p.Attempts != 0 {
		t.Fatalf("without a report: %+v", p)
	}
	for range model.ProvRetryBudget {
		h.store.Advance(h.loops.prov.pol.InspectTimeout)
		h.settle()
	}
	n := h.node("node001")
	if n.ProvisionState() != model.ProvInspectFailed || !strings.Contains(n.Reason, "has not reported its hardware") {
		t.Fatalf("node001 %s %q", n.ProvisionState(), n.Reason)
	}
	if got := strings.Join(h.ledgerSteps("node001"), ","); got != "enroll,inspect,retry,retry,fail,quarantine" {
		t.Fatalf("ledger %s", got)
	}
}

// TestDeployWritesTheImage: a node whose disk does not hold the job's
// image is power-cycled into the ramdisk (one-time PXE), the agent writes
// and verifies the image, the node boots from disk and checks in; only
// then does the job start.
func TestDeployWritesTheImage(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil) // cleaning writes no image
	h.available("node001", true)
	h.cfg.DefaultImage = testImage // the policy changed: nodes carry rocky:9 now
	h.newLeader()
	id := h.submit(1)
	ctx := context.Background()
	h.allocate()
	h.loops.jobs.reconcile(ctx) // launch: waits for the deployment
	h.loops.jobs.steps.wait()
	if j := h.job(id); j.State != model.JobScheduled || len(h.exec.started) != 0 {
		t.Fatalf("job %s started %v before its node was deployed", j.State, h.exec.started)
	}
	h.settle()
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s after the deployment; %s", j.State, h)
	}
	n := h.node("node001")
	if n.ProvisionState() != model.ProvActive || n.Image != testImage {
		t.Fatalf("node001 %s image %q", n.ProvisionState(), n.Image)
	}
	fk := h.bmcs.fake("node001")
	if boots := fk.Boots(); !slices.Equal(boots, []bmc.BootTarget{bmc.BootPxe, bmc.BootHdd}) {
		t.Fatalf("boots %v, want the ramdisk by PXE then the disk", boots)
	}
	want := "enroll,inspect,inspected,deploy,deploy-step,deploy-step,deploy-step,deploy-step,deployed"
	if got := strings.Join(h.ledgerSteps("node001"), ","); got != want {
		t.Fatalf("ledger %s, want %s", got, want)
	}
	if ids := h.agents.taskIDs(); !slices.Contains(ids, "node001/deploy/1/image/0") {
		t.Fatalf("tasks %v", ids)
	}
	// Released and cleaned, the node is available again and keeps the image.
	h.exec.exit(id, "node001", 0)
	h.settle()
	if n := h.node("node001"); n.ProvisionState() != model.ProvAvailable || n.Image != testImage {
		t.Fatalf("after the job: %s %q", n.ProvisionState(), n.Image)
	}
}

// TestDeploySkipsTheRewrite: a clean node that already carries the image
// is deployed without a reboot.
func TestDeploySkipsTheRewrite(t *testing.T) {
	h := newProvHarness(t, 1, 2, func(c *Config) { c.DefaultImage = testImage })
	h.available("node001", true)
	id := h.submit(1)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s; %s", j.State, h)
	}
	if r := h.bmcs.fake("node001").Resets(); len(r) != 0 {
		t.Fatalf("resets %v: the rewrite was not skipped", r)
	}
	if e := h.lastLedger("node001"); e.Step != "provision:deployed" || !strings.Contains(e.Evidence, "already carries image rocky:9") && !strings.Contains(e.Evidence, "on disk since its last cleaning") {
		t.Fatalf("last ledger entry %+v", e)
	}
}

// TestDeployTimeoutFails: the ramdisk never checks in; after the retry
// budget the deployment fails to deploy-failed, the job fails with the
// reason and the node is quarantined, never handed out.
func TestDeployTimeoutFails(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.available("node001", true)
	h.cfg.DefaultImage = testImage
	h.newLeader()
	id := h.submit(1)
	h.allocate() // the hand-out check passes, then the node is redeployed
	h.agents.mu.Lock()
	h.agents.connected["node001"] = false // the ramdisk never comes up
	h.agents.mu.Unlock()
	h.settle()
	if p := h.node("node001").Prov; p.State != model.ProvDeploying || p.Step != model.StepRamdisk {
		t.Fatalf("prov %+v", p)
	}
	for i := 0; i < 10 && h.node("node001").Prov.State == model.ProvDeploying; i++ {
		h.store.Advance(h.loops.prov.pol.BootTimeout)
		h.settle()
	}
	n, j := h.node("node001"), h.job(id)
	if n.ProvisionState() != model.ProvDeployFailed || n.State != model.NodeQuarantined || n.Schedulable() {
		t.Fatalf("node001 %s / %s", n.ProvisionState(), n.State)
	}
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "did not check in") || len(h.exec.started) != 0 {
		t.Fatalf("job %s %q, started %v", j.State, j.Reason, h.exec.started)
	}
	// Three power cycles, one per attempt.
	if boots := h.bmcs.fake("node001").Boots(); len(boots) != model.ProvRetryBudget {
		t.Fatalf("boots %v", boots)
	}
}

// loseRunningNode runs a job on node001 (then calls before, if any),
// loses its agent in gossip and runs the liveness loop loss later. It
// returns the job and a function that runs the loop again.
func loseRunningNode(t *testing.T, h *provHarness, before func(), loss time.Duration) (uint64, func()) {
	h.available("node001", true)
	id := h.submit(1)
	h.settle()
	if h.job(id).State != model.JobRunning {
		t.Fatalf("job %d did not start; %s", id, h)
	}
	if before != nil {
		before()
	}
	g := &fakeGossip{joined: true, alive: map[string]bool{"node001": true}}
	h.loops.cfg.Gossip = g
	seen := map[string]time.Time{}
	pass := func() { h.loops.livenessPass(context.Background(), seen) }
	pass()
	g.mu.Lock()
	g.alive = map[string]bool{}
	g.mu.Unlock()
	h.store.Advance(loss)
	pass()
	return id, pass
}

// fenceSetup runs a job on node001 and loses its agent in gossip.
func fenceSetup(t *testing.T, bmcOf func(h *provHarness)) (*provHarness, uint64) {
	h := newProvHarness(t, 1, 2, nil)
	if bmcOf != nil {
		bmcOf(h)
	}
	id, _ := loseRunningNode(t, h, nil, time.Second)
	if n, j := h.node("node001"), h.job(id); n.Prov.State != model.ProvFencing || j.State != model.JobRunning {
		t.Fatalf("lost node: %s, job %s: the job must stay until the node is fenced", n.Prov.State, j.State)
	}
	return h, id
}

func TestFenceVerifiedPowerOff(t *testing.T) {
	h, id := fenceSetup(t, nil)
	h.provPass()
	n, j := h.node("node001"), h.job(id)
	if n.State != model.NodeDown || n.Prov.State != model.ProvNone || j.State != model.JobFailed || !strings.Contains(j.Reason, "fenced") {
		t.Fatalf("after fencing: node %s / %s, job %s %q", n.State, n.Prov.State, j.State, j.Reason)
	}
	if r := h.bmcs.fake("node001").Resets(); !slices.Equal(r, []bmc.ResetKind{bmc.ResetForceOff, bmc.ResetOn}) {
		t.Fatalf("resets %v, want ForceOff then On", r)
	}
	if !strings.Contains(h.lastLedgerStep("node001", "provision:fenced"), "BMC reports Off") {
		t.Fatal("the fence's evidence does not say the BMC reported Off")
	}
}

func (h *provHarness) lastLedgerStep(node, step string) string {
	ev := ""
	h.store.Read(func(st *fsm.State) {
		for _, e := range st.Ledger[node] {
			if e.Step == step {
				ev = e.Evidence
			}
		}
	})
	return ev
}

// TestFenceFailureQuarantines: a BMC that refuses to power off, or says
// it did while the host stays on, leaves the node fence-failed and
// quarantined; the job fails only after the budget is spent, and the
// node is never handed out again.
func TestFenceFailureQuarantines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(h *provHarness)
		want  string
	}{
		{"power off fails", func(h *provHarness) {
			h.bmcs.fake("node001") // created; made to fail after the job starts
		}, "boom"},
		{"power off not verified", func(h *provHarness) {
			h.bmcs.fakes["node001"] = &lyingBMC{Fake: bmc.NewFake(bmc.StateOn, bmc.Firmware{ID: "BMC", Version: "1.45"})}
		}, "still reports On"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, id := fenceSetup(t, tc.setup)
			h.bmcs.fake("node001").FailWith(bmc.MethodPowerOff, errBoom)
			if tc.want != "boom" {
				h.bmcs.fake("node001").FailWith(bmc.MethodPowerOff, nil)
			}
			for i := range model.ProvRetryBudget {
				h.provPass()
				if i < model.ProvRetryBudget-1 {
					if j := h.job(id); j.State != model.JobRunning {
						t.Fatalf("attempt %d: job %s before fencing gave up", i+1, j.State)
					}
				}
				h.store.Advance(h.loops.prov.pol.RetryWait)
			}
			n, j := h.node("node001"), h.job(id)
			if n.ProvisionState() != model.ProvFenceFailed || n.State != model.NodeQuarantined || !strings.Contains(n.Reason, tc.want) {
				t.Fatalf("node001 %s / %s %q", n.ProvisionState(), n.State, n.Reason)
			}
			if j.State != model.JobFailed || !strings.Contains(j.Reason, "fencing failed") {
				t.Fatalf("job %s %q", j.State, j.Reason)
			}
			h.settle()
			if h.node("node001").Schedulable() {
				t.Fatal("an unfenced node is schedulable")
			}
		})
	}
}

// TestNewLeaderContinuesTheDeployment: the leader is replaced in the
// middle of a deployment (image task running); the new one, with fresh
// loops over the same replicated state, dispatches the same task, does
// not power-cycle again, and finishes the deployment.
func TestNewLeaderContinuesTheDeployment(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.available("node001", true)
	h.cfg.DefaultImage = testImage
	h.newLeader()
	id := h.submit(1)
	h.allocate()
	for range 10 {
		h.store.Advance(time.Second)
		h.provPass()
		h.checkIns()
		if n := h.node("node001"); n.Task != nil {
			break
		}
	}
	n := h.node("node001")
	if n.Prov.Step != model.StepImage || n.Task == nil {
		t.Fatalf("not at the image step: %+v", n.Prov)
	}
	task := n.Task.ID
	resets := len(h.bmcs.fake("node001").Resets())

	h.newLeader() // the old leader's loops are gone with it
	h.provPass()
	if ids := h.agents.taskIDs(); ids[len(ids)-1] != task {
		t.Fatalf("the new leader dispatched %v, want the same task %s again", ids, task)
	}
	h.settle()
	if j := h.job(id); j.State != model.JobRunning || h.node("node001").ProvisionState() != model.ProvActive {
		t.Fatalf("job %s, node %s", j.State, h.node("node001").ProvisionState())
	}
	if got := len(h.bmcs.fake("node001").Resets()); got != resets+1 {
		t.Fatalf("%d resets after the failover, want only the boot to disk", got-resets)
	}
}

// TestResealAfterKeyRotation: with a new primary key, the leader re-seals
// every BMC login under it, and the login still opens.
func TestResealAfterKeyRotation(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.available("node001", false)
	old := h.keys.Primary()
	rotated2, err := secretkey.Parse([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=\n" + testKey + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Secrets = rotated2
	h.newLeader()
	h.provPass()
	n := h.node("node001")
	if n.BMC.Credentials.KeyID == old || n.BMC.Credentials.KeyID != rotated2.Primary() {
		t.Fatalf("key %s, want %s", n.BMC.Credentials.KeyID, rotated2.Primary())
	}
	if u, p, err := rotated2.OpenBMCLogin("node001", *n.BMC); err != nil || u != "ibex" || p != "pw-node001" {
		t.Fatalf("re-sealed login: %q %q %v", u, p, err)
	}
}

// TestNoKeyNoBMC: a leader without the key cannot open a login: the
// inspection fails with a message that says what to do.
func TestNoKeyNoBMC(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.setBMC("node001")
	other, err := secretkey.Parse([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Secrets = other
	h.newLeader()
	for range model.ProvRetryBudget {
		h.settle()
		h.store.Advance(h.loops.prov.pol.RetryWait)
	}
	if n := h.node("node001"); n.ProvisionState() != model.ProvInspectFailed || !strings.Contains(n.Reason, "--secrets-key-file") {
		t.Fatalf("node001 %s %q", n.ProvisionState(), n.Reason)
	}
	if h.bmcs.opens != 0 {
		t.Fatalf("the BMC was opened %d times without its login", h.bmcs.opens)
	}
}

func TestCrossCheck(t *testing.T) {
	agent := &model.Agent{CertSerial: "1"}
	inv := func(power, ver string) string {
		return `{"power_state":"` + power + `","bmc_firmware":[{"id":"BMC","version":"` + ver + `","known":true}]}`
	}
	fw := []bmc.Firmware{{ID: "BMC", Version: "1.45", Known: true}, {ID: "BIOS", Version: "P79", Known: true}}
	for _, tc := range []struct {
		name      string
		n         model.Node
		power     bmc.PowerState
		fw        []bmc.Firmware
		connected bool
		mismatch  string
		wait      bool
	}{
		{name: "agree", n: model.Node{Agent: agent, Inventory: inv("On", "1.45")}, power: bmc.StateOn, fw: fw, connected: true},
		{name: "no agent: the BMC alone", n: model.Node{}, power: bmc.StateOff, fw: fw},
		{name: "no report yet", n: model.Node{Agent: agent}, power: bmc.StateOn, fw: fw, wait: true},
		{name: "versions differ", n: model.Node{Agent: agent, Inventory: inv("On", "1.40")}, power: bmc.StateOn, fw: fw, mismatch: "versions differ"},
		{name: "power differs", n: model.Node{Agent: agent, Inventory: inv("Off", "1.45")}, power: bmc.StateOn, fw: fw, mismatch: "reported power Off"},
		{name: "connected but Off", n: model.Node{Agent: agent, Inventory: inv("", "1.45")}, power: bmc.StateOff, fw: fw, connected: true, mismatch: "reports the host Off"},
		{name: "no id in common", n: model.Node{Agent: agent, Inventory: `{"bmc_firmware":[{"id":"iDRAC","version":"7","known":true}]}`}, power: bmc.StateOn, fw: fw, mismatch: "no id in common"},
		{name: "unknown versions are not compared", n: model.Node{Agent: agent, Inventory: `{"bmc_firmware":[{"id":"BMC","version":"N/A"}]}`}, power: bmc.StateOn, fw: fw},
		{name: "unreadable report", n: model.Node{Agent: agent, Inventory: `{"bmc_firmware":7}`}, power: bmc.StateOn, fw: fw, mismatch: "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.n.BMC = &model.NodeBMC{Endpoint: "https://b"}
			v := crossCheck(&tc.n, tc.power, tc.fw, tc.connected)
			if (v.mismatch != "") != (tc.mismatch != "") || !strings.Contains(v.mismatch, tc.mismatch) || (v.wait != "") != tc.wait || v.evidence == "" {
				t.Fatalf("verdict %+v, want mismatch %q wait %v", v, tc.mismatch, tc.wait)
			}
		})
	}
}

// TestPerJobImage: a job's own image is written by the deployment of a
// node that does not carry it; cleaning afterwards writes the cluster's
// image back; a job that asks for the image a clean node carries skips the
// rewrite; a node that cannot be imaged fails the job with the reason.
func TestPerJobImage(t *testing.T) {
	h := newProvHarness(t, 1, 2, func(c *Config) { c.DefaultImage = testImage })
	h.available("node001", true)
	id := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}, Image: "alma:8"}, Time: h.store.Now()}).(uint64)
	h.settle()
	if j, n := h.job(id), h.node("node001"); j.State != model.JobRunning || n.Image != "alma:8" || n.ProvisionState() != model.ProvActive {
		t.Fatalf("job %s on image %q (%s)", j.State, n.Image, n.ProvisionState())
	}
	if boots := h.bmcs.fake("node001").Boots(); len(boots) != 2 {
		t.Fatalf("boots %v: the image was not deployed", boots)
	}
	h.exec.exit(id, "node001", 0)
	h.settle()
	if n := h.node("node001"); n.ProvisionState() != model.ProvAvailable || n.Image != testImage {
		t.Fatalf("after the job: %s with %q, want the cluster's image back", n.ProvisionState(), n.Image)
	}
	id = h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}, Image: testImage}, Time: h.store.Now()}).(uint64)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning || len(h.bmcs.fake("node001").Boots()) != 2 {
		t.Fatalf("job %s, boots %v: the rewrite was not skipped", j.State, h.bmcs.fake("node001").Boots())
	}
	h.exec.exit(id, "node001", 0)
	h.settle()

	// The job is accepted (drained node001 could be imaged) but placed on
	// node002, which has a BMC and no agent: it fails at launch, saying
	// why, instead of running on the wrong image.
	h.apply(&fsm.DrainNode{Node: "node001", Reason: "busy elsewhere", Time: h.store.Now()})
	h.setBMC("node002")
	id = h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}, Image: "alma:8"}, Time: h.store.Now()}).(uint64)
	h.settle()
	if j := h.job(id); j.State != model.JobFailed || !strings.Contains(j.Reason, "cannot run image alma:8") {
		t.Fatalf("job %s %q", j.State, j.Reason)
	}
}
