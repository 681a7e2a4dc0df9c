package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func testBMC(endpoint string) model.NodeBMC {
	return model.NodeBMC{Endpoint: endpoint, SystemID: "1", Credentials: model.Sealed{KeyID: "k1", Box: []byte("sealed-login")}}
}

func prov(t *testing.T, f *FSM, node string, ev model.ProvEvent, mod ...func(*Provision)) {
	t.Helper()
	c := &Provision{Node: node, Event: ev, Evidence: "test evidence", Time: t0.Add(time.Minute)}
	for _, m := range mod {
		m(c)
	}
	must(t, f.Apply(c))
}

// available registers a BMC for node and takes it through inspection and
// cleaning to available.
func available(t *testing.T, f *FSM, node string) {
	t.Helper()
	must(t, f.Apply(&SetNodeBMC{Node: node, BMC: testBMC("https://bmc-" + node), By: "admin", Time: t0}))
	prov(t, f, node, model.EvInspect)
	prov(t, f, node, model.EvInspected)
	n := f.View().Nodes[node]
	if n.State != model.NodeCleaning || n.ProvisionState() != model.ProvCleaning {
		t.Fatalf("inspected node is %s / %s, want cleaning", n.State, n.ProvisionState())
	}
	must(t, f.Apply(&NodeCleaned{Node: node, JobID: n.LastJobID, Evidence: "clean", Time: t0.Add(2 * time.Minute)}))
	if n := f.View().Nodes[node]; n.ProvisionState() != model.ProvAvailable || !n.Schedulable() {
		t.Fatalf("node %s is %s, want available", node, n.ProvisionState())
	}
}

// agentClean runs an agent node's erase and firmware steps and marks it
// cleaned.
func agentClean(t *testing.T, f *FSM, node string) {
	t.Helper()
	for _, k := range []model.TaskKind{model.TaskErase, model.TaskFirmware} {
		must(t, f.Apply(&StartTask{Node: node, Task: model.NodeTask{ID: string(k), Kind: k, Started: t0}}))
		must(t, f.Apply(&TaskDone{Node: node, TaskID: string(k), OK: true, Evidence: "ok", Time: t0}))
	}
	must(t, f.Apply(&NodeCleaned{Node: node, Evidence: "clean", Time: t0.Add(3 * time.Minute)}))
}

func TestSetNodeBMCHoldsTheNodeUntilInspected(t *testing.T) {
	f := harness(t, 2)
	before := f.View().Hash()
	for name, c := range map[string]*SetNodeBMC{
		"bad endpoint":   {Node: "node001", BMC: testBMC("ftp://x")},
		"no credentials": {Node: "node001", BMC: model.NodeBMC{Endpoint: "https://bmc"}},
		"unknown node":   {Node: "node999", BMC: testBMC("https://bmc")},
	} {
		if r := f.Apply(c); r.Err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if f.View().Hash() != before {
		t.Fatal("a refused registration changed the state")
	}
	must(t, f.Apply(&SetNodeBMC{Node: "node001", BMC: testBMC("https://bmc1"), By: "root", Time: t0}))
	n := f.View().Nodes["node001"]
	if n.Schedulable() || n.ProvisionState() != model.ProvEnroll || n.BMC.SetBy != "root" {
		t.Fatalf("after bmc set: schedulable %v, %s", n.Schedulable(), n.ProvisionState())
	}
	led := f.View().Ledger["node001"]
	if last := led[len(led)-1]; last.Step != "provision:enroll" || last.Actor != "root" || strings.Contains(last.Evidence, "sealed-login") {
		t.Fatalf("ledger: %+v", last)
	}
	// A node holding a job cannot get a BMC (nor be inspected) until free.
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node002"}, Time: t0}))
	if r := f.Apply(&SetNodeBMC{Node: "node002", BMC: testBMC("https://bmc2"), Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("bmc set on an allocated node: %v", r.Err)
	}
	if r := f.Apply(&Provision{Node: "node002", Event: model.EvInspect, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("inspect of a node without a BMC: %v", r.Err)
	}
	if r := f.Apply(&Provision{Node: "node001", Event: model.EvRelease, Time: t0}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("an operator's event as a provisioning command: %v", r.Err)
	}
}

func TestDeploymentGatesTheJobStart(t *testing.T) {
	f := harness(t, 1)
	available(t, f, "node001")
	must(t, f.Apply(&AddImage{Image: model.Image{Name: "rocky", Version: "9", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/r"}}))
	enrolled(t, f, "node001") // agent enrolled: from ready to cleaning again
	agentClean(t, f, "node001")
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	if r := f.Apply(&StartJob{JobID: id, Time: t0}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "not deployed") {
		t.Fatalf("a job started on an undeployed node: %v", r.Err)
	}
	if r := f.Apply(&Provision{Node: "node001", Event: model.EvDeploy, Job: id, Image: "nope:1", Step: model.StepPowerCycle, Time: t0}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("deploy of an image not in the catalog: %v", r.Err)
	}
	prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Image, c.Step = id, "rocky:9", model.StepPowerCycle })
	for _, s := range []model.DeployStep{model.StepRamdisk, model.StepImage} {
		prov(t, f, "node001", model.EvDeployStep, func(c *Provision) { c.Step = s })
	}
	// The image step's task runs on the allocated node; another image does not.
	if r := f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "x", Kind: model.TaskImage, Image: "other:1"}}); r.Err == nil {
		t.Fatal("an image task for another image started while deploying")
	}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "img", Kind: model.TaskImage, Image: "rocky:9", Started: t0}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "img", OK: true, Evidence: "digest ok", Time: t0}))
	for _, s := range []model.DeployStep{model.StepBootDisk, model.StepCheckIn} {
		prov(t, f, "node001", model.EvDeployStep, func(c *Provision) { c.Step = s })
	}
	prov(t, f, "node001", model.EvDeployed)
	n := f.View().Nodes["node001"]
	if n.ProvisionState() != model.ProvActive || n.Image != "rocky:9" {
		t.Fatalf("after deploy: %s image %q", n.ProvisionState(), n.Image)
	}
	must(t, f.Apply(&StartJob{JobID: id, Time: t0}))
	if _, err := model.VerifyChain(f.View().Ledger["node001"]); err != nil {
		t.Fatal(err)
	}
}

func TestDeployedNeedsTheVerifiedImage(t *testing.T) {
	f := harness(t, 1)
	available(t, f, "node001")
	must(t, f.Apply(&AddImage{Image: model.Image{Name: "rocky", Version: "9", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/r"}}))
	enrolled(t, f, "node001")
	agentClean(t, f, "node001")
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Image, c.Step = id, "rocky:9", model.StepCheckIn })
	if r := f.Apply(&Provision{Node: "node001", Event: model.EvDeployed, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("deployed without the image: %v", r.Err)
	}
}

func TestDeployFailureFailsTheJobAndQuarantines(t *testing.T) {
	f := harness(t, 2)
	available(t, f, "node001")
	id := submit(t, f, "alice", 2)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001", "node002"}, PKey: 0x1000, Time: t0}))
	prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Step = id, model.StepPowerCycle })
	prov(t, f, "node001", model.EvRetry, func(c *Provision) { c.Reason = "no power" })
	prov(t, f, "node001", model.EvRetry, func(c *Provision) { c.Reason = "no power" })
	if r := f.Apply(&Provision{Node: "node001", Event: model.EvRetry, Reason: "no power", Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("a retry past the budget: %v", r.Err)
	}
	prov(t, f, "node001", model.EvFail, func(c *Provision) { c.Reason = "the BMC never reported On" })
	s := f.View()
	n, j := s.Nodes["node001"], s.Jobs[id]
	if n.State != model.NodeQuarantined || n.ProvisionState() != model.ProvDeployFailed || n.Schedulable() {
		t.Fatalf("node001: %s / %s", n.State, n.ProvisionState())
	}
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "deployment failed") {
		t.Fatalf("job: %s %q", j.State, j.Reason)
	}
	if s.Nodes["node002"].State != model.NodeCleaning {
		t.Fatalf("the other node: %s", s.Nodes["node002"].State)
	}
	// Cleaning does not make it available: only an operator does.
	if r := f.Apply(&NodeCleaned{Node: "node001", JobID: id, Evidence: "x", Time: t0}); r.Err == nil {
		t.Fatal("a quarantined node was cleaned")
	}
	must(t, f.Apply(&UndrainNode{Node: "node001", By: "ops", Time: t0.Add(time.Hour)}))
	if n := f.View().Nodes["node001"]; n.State != model.NodeCleaning || n.ProvisionState() != model.ProvCleaning {
		t.Fatalf("after undrain: %s / %s", n.State, n.ProvisionState())
	}
}

func TestFencing(t *testing.T) {
	for _, fenced := range []bool{true, false} {
		f := harness(t, 1)
		available(t, f, "node001")
		id := submit(t, f, "alice", 1)
		must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, PKey: 0x1000, Time: t0}))
		prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Step = id, model.StepCheckIn })
		prov(t, f, "node001", model.EvDeployed)
		must(t, f.Apply(&StartJob{JobID: id, Time: t0}))
		prov(t, f, "node001", model.EvFence, func(c *Provision) { c.Reason = "agent left the gossip pool" })
		s := f.View()
		if s.Jobs[id].State != model.JobRunning || len(s.PKeyReleased) != 0 {
			t.Fatalf("the job ended (or its key was released) before the node was fenced: %s", s.Jobs[id].State)
		}
		if fenced {
			prov(t, f, "node001", model.EvFenced, func(c *Provision) { c.Evidence, c.Reason = "BMC reports Off", "agent left" })
			s = f.View()
			if n := s.Nodes["node001"]; n.State != model.NodeDown || !strings.Contains(n.Reason, "fenced") {
				t.Fatalf("fenced node: %s %q", n.State, n.Reason)
			}
		} else {
			prov(t, f, "node001", model.EvFail, func(c *Provision) { c.Reason = "power off not confirmed" })
			s = f.View()
			if n := s.Nodes["node001"]; n.State != model.NodeQuarantined || n.ProvisionState() != model.ProvFenceFailed {
				t.Fatalf("unfenced node: %s %s", n.State, n.ProvisionState())
			}
			// Released by an operator, it is inspected again first.
			must(t, f.Apply(&UndrainNode{Node: "node001", Time: t0.Add(time.Hour)}))
			if n := f.View().Nodes["node001"]; n.ProvisionState() != model.ProvEnroll || n.Schedulable() {
				t.Fatalf("released fence-failed node: %s", n.ProvisionState())
			}
		}
		if s.Jobs[id].State != model.JobFailed || s.PKeyReleased[0x1000].IsZero() {
			t.Fatalf("fenced=%v: job %s, key released %v", fenced, s.Jobs[id].State, s.PKeyReleased)
		}
	}
}

func TestCancelDuringDeployAbortsIt(t *testing.T) {
	f := harness(t, 1)
	available(t, f, "node001")
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Step = id, model.StepPowerCycle })
	must(t, f.Apply(&CancelJob{JobID: id, By: "alice", Time: t0}))
	n := f.View().Nodes["node001"]
	if n.Prov.State != model.ProvNone || n.ProvisionState() != model.ProvCleaning {
		t.Fatalf("after cancel: %+v / %s", n.Prov, n.ProvisionState())
	}
}

func TestResealBMC(t *testing.T) {
	f := harness(t, 1)
	must(t, f.Apply(&SetNodeBMC{Node: "node001", BMC: testBMC("https://b"), Time: t0}))
	if r := f.Apply(&ResealBMC{Node: "node001", From: "k9", Credentials: model.Sealed{KeyID: "k2", Box: []byte("x")}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("reseal from the wrong key: %v", r.Err)
	}
	must(t, f.Apply(&ResealBMC{Node: "node001", From: "k1", Credentials: model.Sealed{KeyID: "k2", Box: []byte("x")}, Time: t0}))
	if n := f.View().Nodes["node001"]; n.BMC.Credentials.KeyID != "k2" || n.ProvisionState() != model.ProvEnroll {
		t.Fatalf("after reseal: %+v %s", n.BMC.Credentials, n.ProvisionState())
	}
}

// FuzzProvisionCommands applies random provisioning events interleaved
// with the job and hygiene commands that race them, and checks the
// invariants after each: a running job's BMC nodes are deployed for it, a
// node in a failure state is quarantined or cleaning and never
// schedulable, a node held by provisioning is never handed out, and the
// ledger chain holds.
func FuzzProvisionCommands(f *testing.F) {
	// Script bytes: b%21 picks the command (9..20: a provisioning event,
	// in model.ProvEvents order), b/21 its step. The seeds take node001 to
	// available and through a deployment, a fence and a failure.
	f.Add([]byte{10, 11, 4, 0, 1, 2, 13, 2, 14 + 21*4, 15, 2, 3})
	f.Add([]byte{10, 11, 4, 0, 1, 13, 15 + 21*4, 14 + 21*4, 17, 19, 2, 6, 5, 7})
	f.Add([]byte{10, 19, 19, 19, 20, 5, 8, 10, 11, 4, 0, 1, 13, 6, 12})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 200 {
			return
		}
		fm := harness(t, 2)
		must(t, fm.Apply(&SetNodeBMC{Node: "node001", BMC: testBMC("https://b1"), Time: t0}))
		job, size := uint64(0), 1
		for i, b := range script {
			at := t0.Add(time.Duration(i+1) * time.Second)
			step := model.DeploySteps[int(b/21)%len(model.DeploySteps)]
			var cmd Command
			switch op := int(b % 21); op {
			case 0:
				size = 1 + int(b/21)%2
				job = must(t, fm.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: size, TimeLimit: time.Hour, Argv: []string{"x"}}, Time: at})).(uint64)
				continue
			case 1:
				nodes := []string{"node001", "node002"}[:size]
				cmd = &Allocate{JobID: job, Nodes: nodes, Time: at}
			case 2:
				cmd = &StartJob{JobID: job, Time: at}
			case 3:
				zero := 0
				cmd = &FinishJob{JobID: job, State: model.JobCompleted, ExitCode: &zero, Time: at}
			case 4:
				cmd = &NodeCleaned{Node: "node001", JobID: fm.View().Nodes["node001"].LastJobID, Evidence: "e", Time: at}
			case 5:
				cmd = &UndrainNode{Node: "node001", Time: at}
			case 6:
				cmd = &NodeDown{Node: "node001", Reason: "gone", Time: at}
			case 7:
				cmd = &NodeUp{Node: "node001", Time: at}
			case 8:
				cmd = &SetNodeBMC{Node: "node001", BMC: testBMC("https://b1"), Time: at}
			default:
				ev := model.ProvEvents[op-9]
				c := &Provision{Node: "node001", Event: ev, Job: job, Step: step, Evidence: "e", Time: at}
				if b/21%2 == 0 {
					c.Reason = "r"
				}
				if ev == model.EvDeploy {
					c.Step = model.StepCheckIn
				}
				cmd = c
			}
			before := fm.View()
			if r := fm.Apply(cmd); r.Err != nil && fm.View().Hash() != before.Hash() {
				t.Fatalf("refused %T changed the state: %v", cmd, r.Err)
			}
			s := fm.View()
			n := s.Nodes["node001"]
			for _, j := range s.Jobs {
				if j.State == model.JobRunning && containsName(j.Nodes, "node001") && !n.Deployed(j.ID) {
					t.Fatalf("job %d runs on undeployed node001 (%+v)", j.ID, n.Prov)
				}
			}
			ps := n.ProvisionState()
			if ps.Failed() && ps != model.ProvCleanFailed && n.State != model.NodeQuarantined {
				t.Fatalf("node001 %s but %s", ps, n.State)
			}
			if n.Schedulable() && ps != model.ProvAvailable {
				t.Fatalf("node001 schedulable while %s", ps)
			}
			if _, err := model.VerifyChain(s.Ledger["node001"]); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

func TestJobImageChecks(t *testing.T) {
	f := harness(t, 2)
	must(t, f.Apply(&AddImage{Image: model.Image{Name: "alma", Version: "8", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/a"}}))
	job := func(img string, n int) *SubmitJob {
		return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: n, TimeLimit: time.Hour, Argv: []string{"x"}, Image: img}, Time: t0}
	}
	if r := f.Apply(job("nope:1", 1)); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("an image not in the catalog: %v", r.Err)
	}
	if r := f.Apply(job("alma:8", 1)); !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "only 0 nodes") {
		t.Fatalf("no node can carry it: %v", r.Err)
	}
	enrolled(t, f, "node001")
	must(t, f.Apply(&SetNodeBMC{Node: "node001", BMC: testBMC("https://b1"), Time: t0}))
	if r := f.Apply(job("alma:8", 2)); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("two nodes, one imageable: %v", r.Err)
	}
	id := must(t, f.Apply(job("alma:8", 1))).(uint64)
	// Placed on a node without the image, it cannot start (whatever the
	// deployment record says).
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node002"}, Time: t0}))
	if r := f.Apply(&StartJob{JobID: id, Time: t0}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "not alma:8") {
		t.Fatalf("start on a node without the image: %v", r.Err)
	}
}

// TestStaleDeployOutcomeRefused: an outcome of an earlier deployment of a
// node (its job) does not move a later one.
func TestStaleDeployOutcomeRefused(t *testing.T) {
	f := harness(t, 1)
	available(t, f, "node001")
	a := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: a, Nodes: []string{"node001"}, Time: t0}))
	prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Step = a, model.StepPowerCycle })
	must(t, f.Apply(&CancelJob{JobID: a, By: "alice", Time: t0}))
	must(t, f.Apply(&NodeCleaned{Node: "node001", JobID: a, Evidence: "clean", Time: t0}))
	b := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: b, Nodes: []string{"node001"}, Time: t0}))
	prov(t, f, "node001", model.EvDeploy, func(c *Provision) { c.Job, c.Step = b, model.StepPowerCycle })
	if r := f.Apply(&Provision{Node: "node001", Event: model.EvFail, Job: a, Reason: "late", Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("job %d's outcome applied to job %d's deployment: %v", a, b, r.Err)
	}
}
