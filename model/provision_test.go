package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var pt0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// input is a well-formed input of event ev for a record in state from.
func input(from Provision, ev ProvEvent) ProvInput {
	in := ProvInput{Event: ev, Time: pt0.Add(time.Minute), Reason: "because"}
	switch ev {
	case EvDeploy:
		in.Job, in.Step, in.Image = 7, StepPowerCycle, "rocky:9"
	case EvDeployStep:
		if i := slices.Index(DeploySteps, from.Step); i >= 0 && i+1 < len(DeploySteps) {
			in.Step = DeploySteps[i+1]
		}
	}
	return in
}

// TestProvisionTransitionTable pins every (state, event) pair: the table
// below is written out independently of provTable, so a changed edge shows
// up here as a failing pair.
func TestProvisionTransitionTable(t *testing.T) {
	want := map[string]ProvState{
		"none+enroll": ProvEnroll, "none+deploy": ProvDeploying, "none+fence": ProvFencing,
		"enroll+enroll": ProvEnroll, "enroll+inspect": ProvInspecting,
		"inspecting+enroll": ProvEnroll, "inspecting+inspected": ProvNone, "inspecting+retry": ProvInspecting, "inspecting+fail": ProvInspectFailed,
		"inspect-failed+enroll": ProvEnroll, "inspect-failed+release": ProvEnroll,
		"deploying+deploy-step": ProvDeploying, "deploying+deployed": ProvNone, "deploying+deploy-abort": ProvNone,
		"deploying+retry": ProvDeploying, "deploying+fail": ProvDeployFailed, "deploying+fence": ProvFencing,
		"deploy-failed+enroll": ProvEnroll, "deploy-failed+release": ProvNone,
		"fencing+fenced": ProvNone, "fencing+retry": ProvFencing, "fencing+fail": ProvFenceFailed,
		"fence-failed+enroll": ProvEnroll, "fence-failed+release": ProvEnroll,
	}
	allowed := 0
	for _, st := range ProvStates {
		for _, ev := range ProvEvents {
			from := Provision{State: st, Step: StepCheckIn, Job: 7, Since: pt0}
			if st == ProvDeploying && ev == EvDeployStep {
				from.Step = StepRamdisk
			}
			name := st.Label() + "+" + string(ev)
			got, err := from.Next(input(from, ev))
			to, ok := want[name]
			switch {
			case ok && err != nil:
				t.Errorf("%s: refused: %v", name, err)
			case ok && got.State != to:
				t.Errorf("%s: to %q, want %q", name, got.State, to)
			case !ok && err == nil:
				t.Errorf("%s: allowed (to %q), want refused", name, got.State)
			case !ok && got != from:
				t.Errorf("%s: a refused event changed the record: %+v", name, got)
			}
			if ok {
				allowed++
			}
		}
	}
	if allowed != len(want) {
		t.Errorf("%d pairs allowed, the table lists %d", allowed, len(want))
	}
}

// TestProvisionFailuresNeverLeadToAvailable: from a failure state no
// event but an operator's (release, or registering the BMC again) does
// anything, and a failed node is never schedulable.
func TestProvisionFailuresNeverLeadToAvailable(t *testing.T) {
	for _, st := range []ProvState{ProvInspectFailed, ProvDeployFailed, ProvFenceFailed} {
		for _, ev := range ProvEvents {
			p := Provision{State: st, Since: pt0, Reason: "x"}
			got, err := p.Next(input(p, ev))
			if ev != EvEnroll && ev != EvRelease && err == nil {
				t.Errorf("%s + %s: allowed, to %q", st, ev, got.State)
			}
		}
		n := &Node{Name: "n", State: NodeReady, BMC: &NodeBMC{Endpoint: "https://b"}, Prov: &Provision{State: st}}
		if n.Schedulable() || n.ProvisionState() != st {
			t.Errorf("%s: schedulable %v, shown as %s", st, n.Schedulable(), n.ProvisionState())
		}
	}
}

func TestProvisionRetryBudget(t *testing.T) {
	p := Provision{State: ProvFencing, Since: pt0}
	var err error
	for i := 1; i < ProvRetryBudget; i++ {
		if p, err = p.Next(ProvInput{Event: EvRetry, Time: pt0.Add(time.Duration(i) * time.Minute), Reason: "BMC timed out"}); err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if p.Attempts != i || p.Reason != "BMC timed out" || !p.Since.Equal(pt0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("after retry %d: %+v", i, p)
		}
	}
	if _, err := p.Next(ProvInput{Event: EvRetry, Time: pt0.Add(time.Hour), Reason: "again"}); err == nil || !strings.Contains(err.Error(), "fails now") {
		t.Fatalf("retry past the budget: %v", err)
	}
	if p, err = p.Next(ProvInput{Event: EvFail, Time: pt0.Add(time.Hour), Reason: "BMC timed out 3 times"}); err != nil || p.State != ProvFenceFailed {
		t.Fatalf("fail: %+v %v", p, err)
	}
	if _, err := (Provision{State: ProvInspecting, Since: pt0}).Next(ProvInput{Event: EvRetry, Time: pt0}); err == nil {
		t.Fatal("a retry without a reason was allowed")
	}
	if _, err := (Provision{State: ProvInspecting, Since: pt0}).Next(ProvInput{Event: EvFail, Time: pt0}); err == nil {
		t.Fatal("a failure without a reason was allowed")
	}
}

// TestProvisionDeploySteps: steps only go forward, a retry may go back to
// restart from an earlier step, a new step has a fresh budget, and the
// deployment completes only at check-in, recording the job.
func TestProvisionDeploySteps(t *testing.T) {
	p, err := Provision{}.Next(ProvInput{Event: EvDeploy, Time: pt0, Job: 9, Image: "rocky:9", Step: StepPowerCycle})
	if err != nil || p.State != ProvDeploying || p.Step != StepPowerCycle || p.Job != 9 {
		t.Fatalf("deploy: %+v %v", p, err)
	}
	if _, err := p.Next(ProvInput{Event: EvDeployed, Time: pt0}); err == nil {
		t.Fatal("deployed at power-cycle")
	}
	if _, err := p.Next(ProvInput{Event: EvDeployStep, Time: pt0, Step: StepPowerCycle}); err == nil {
		t.Fatal("a step repeated itself")
	}
	p, _ = p.Next(ProvInput{Event: EvDeployStep, Time: pt0, Step: StepRamdisk})
	p, _ = p.Next(ProvInput{Event: EvRetry, Time: pt0, Reason: "no check-in"})
	if p.Attempts != 1 {
		t.Fatalf("attempts %d", p.Attempts)
	}
	p, _ = p.Next(ProvInput{Event: EvDeployStep, Time: pt0, Step: StepImage})
	if p.Attempts != 1 || p.Reason != "" {
		t.Fatalf("a new step must keep the deployment's budget (and drop the old reason): %+v", p)
	}
	if _, err := p.Next(ProvInput{Event: EvRetry, Time: pt0, Reason: "x", Step: StepCheckIn}); err == nil {
		t.Fatal("a retry jumped forward")
	}
	p, err = p.Next(ProvInput{Event: EvRetry, Time: pt0, Reason: "image task failed", Step: StepPowerCycle})
	if err != nil || p.Step != StepPowerCycle || p.Attempts != 2 {
		t.Fatalf("retry from power-cycle: %+v %v", p, err)
	}
	// Passing the steps again buys no new attempts: the next failure is the last.
	for _, s := range DeploySteps[1:3] {
		p, _ = p.Next(ProvInput{Event: EvDeployStep, Time: pt0, Step: s})
	}
	if _, err := p.Next(ProvInput{Event: EvRetry, Time: pt0, Reason: "again"}); err == nil {
		t.Fatal("a deployment got a fourth attempt by passing its steps again")
	}
	for _, s := range DeploySteps[3:] {
		if p, err = p.Next(ProvInput{Event: EvDeployStep, Time: pt0, Step: s}); err != nil {
			t.Fatal(err)
		}
	}
	p, err = p.Next(ProvInput{Event: EvDeployed, Time: pt0})
	if err != nil || p.State != ProvNone || p.Deployed != 9 || p.Job != 0 || p.Step != "" {
		t.Fatalf("deployed: %+v %v", p, err)
	}
	if _, err := (Provision{}).Next(ProvInput{Event: EvDeploy, Time: pt0, Step: StepImage}); err == nil {
		t.Fatal("a deployment without a job")
	}
}

func TestProvisionStateShown(t *testing.T) {
	bmc := &NodeBMC{Endpoint: "https://b"}
	for _, tc := range []struct {
		n    Node
		want ProvState
	}{
		{Node{State: NodeReady}, ProvNone},
		{Node{State: NodeReady, BMC: bmc}, ProvAvailable},
		{Node{State: NodeReady, BMC: bmc, Prov: &Provision{State: ProvEnroll}}, ProvEnroll},
		{Node{State: NodeAllocated, JobID: 4, BMC: bmc, Prov: &Provision{Deployed: 3}}, ProvAllocated},
		{Node{State: NodeAllocated, JobID: 4, BMC: bmc, Prov: &Provision{Deployed: 4}}, ProvActive},
		{Node{State: NodeCleaning, BMC: bmc}, ProvCleaning},
		{Node{State: NodeQuarantined, BMC: bmc}, ProvCleanFailed},
		{Node{State: NodeDown, BMC: bmc}, ProvDown},
	} {
		if got := tc.n.ProvisionState(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.n, got, tc.want)
		}
	}
	n := Node{State: NodeReady, BMC: bmc, Prov: &Provision{State: ProvInspecting}}
	if n.Schedulable() {
		t.Error("an inspecting node is schedulable")
	}
	n.Prov.State = ProvNone
	if !n.Schedulable() {
		t.Error("an available node is not schedulable")
	}
}

// FuzzProvisionNext applies arbitrary event sequences: Next never panics,
// a refused event changes nothing, every state reached is a known one,
// attempts stay within the budget, a failure state is entered only by
// EvFail and left only by an operator's event.
func FuzzProvisionNext(f *testing.F) {
	f.Add([]byte{0, 1, 2, 10, 10, 10, 11})
	f.Add([]byte{3, 4, 4, 4, 4, 5})
	f.Add([]byte{3, 7, 9, 9, 10})
	f.Fuzz(func(t *testing.T, script []byte) {
		p := Provision{}
		for i, b := range script {
			ev := ProvEvents[int(b)%len(ProvEvents)]
			in := ProvInput{Event: ev, Time: pt0.Add(time.Duration(i+1) * time.Second)}
			if b&0x80 != 0 {
				in.Reason = fmt.Sprint("reason ", i)
			}
			in.Step = DeploySteps[int(b>>4)%len(DeploySteps)]
			if b&0x40 != 0 {
				in.Job = uint64(i + 1)
			}
			q, err := p.Next(in)
			if err != nil {
				if q != p {
					t.Fatalf("refused %s changed %+v to %+v", ev, p, q)
				}
				continue
			}
			if !slices.Contains(ProvStates, q.State) {
				t.Fatalf("%s led to unknown state %q", ev, q.State)
			}
			if q.Attempts < 0 || q.Attempts >= ProvRetryBudget {
				t.Fatalf("attempts %d outside the budget", q.Attempts)
			}
			if q.State.Failed() && !p.State.Failed() && ev != EvFail {
				t.Fatalf("%s entered failure %s", ev, q.State)
			}
			if p.State.Failed() && ev != EvEnroll && ev != EvRelease {
				t.Fatalf("%s left failure %s", ev, p.State)
			}
			if q.State == ProvDeploying && (q.Job == 0 || !q.Step.Valid()) {
				t.Fatalf("deploying without job or step: %+v", q)
			}
			p = q
		}
	})
}
