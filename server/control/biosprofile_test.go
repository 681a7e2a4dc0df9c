package control

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

var turboOff = model.FirmwareProfile{Name: "turbo-off", Kind: model.ProfileBIOS, BIOS: map[string]string{"ProcTurboMode": "Disabled", "ProcCoreDisable": "2"}}

// biosHarness is a provisioning harness with node001 available, its fake
// BMC's BIOS at the baseline, the turbo-off profile approved and a job
// asking for it submitted.
func biosHarness(t *testing.T) (*provHarness, *bmc.Fake, uint64) {
	t.Helper()
	h := newProvHarness(t, 1, 2, func(c *Config) { c.DefaultImage = testImage })
	h.available("node001", true)
	fk := h.bmcs.fake("node001")
	fk.SetBIOS(map[string]string{"ProcTurboMode": "Enabled", "ProcCoreDisable": "0", "BootMode": "Uefi"})
	h.apply(&fsm.AddFirmwareProfile{Profile: turboOff, By: "admin", Time: h.store.Now()})
	v := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}, FirmwareProfile: "turbo-off"}, Time: h.store.Now()})
	return h, fk, v.(uint64)
}

func (h *provHarness) biosEntries(node string) []string {
	var out []string
	h.store.Read(func(st *fsm.State) {
		for _, e := range st.Ledger[node] {
			if strings.HasPrefix(e.Step, "bios-") {
				ok := "ok"
				if !e.OK {
					ok = "failed"
				}
				out = append(out, e.Step+" "+ok+" "+e.Tenant)
			}
		}
	})
	return out
}

// TestBIOSProfileAppliedAndRestored: the job starts only after the
// leader set the attributes through the BMC, power-cycled and read them
// back; the cleaning puts the baseline back the same way before the node
// is available again.
func TestBIOSProfileAppliedAndRestored(t *testing.T) {
	h, fk, id := biosHarness(t)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s (%s); %s", j.State, j.Reason, h)
	}
	if got := fk.BIOS(); got["ProcTurboMode"] != "Disabled" || got["ProcCoreDisable"] != "2" || got["BootMode"] != "Uefi" {
		t.Fatalf("BIOS while the job runs: %v", got)
	}
	if !slices.Contains(fk.Resets(), bmc.ResetForceRestart) {
		t.Fatalf("resets %v: no power cycle applied the settings", fk.Resets())
	}
	if b := h.node("node001").BIOS; b == nil || b.Profile != "turbo-off" || b.Baseline["ProcTurboMode"] != "Enabled" {
		t.Fatalf("node's BIOS record: %+v", b)
	}
	h.exec.exit(id, "node001", 0)
	h.settle()
	n := h.node("node001")
	if n.ProvisionState() != model.ProvAvailable || n.BIOS.Profile != "" {
		t.Fatalf("after the job: %s %+v", n.ProvisionState(), n.BIOS)
	}
	if got := fk.BIOS(); got["ProcTurboMode"] != "Enabled" || got["ProcCoreDisable"] != "0" {
		t.Fatalf("BIOS after the cleaning: %v", got)
	}
	if got, want := h.biosEntries("node001"), []string{"bios-profile ok alice", "bios-restore ok alice"}; !slices.Equal(got, want) {
		t.Fatalf("ledger %v, want %v", got, want)
	}
}

// TestBIOSProfileApplyFailsTheJob: a BMC that will not power-cycle fails
// the job, nothing starts, and the cleaning still restores the baseline
// (the profile's values were pending on the BMC).
func TestBIOSProfileApplyFailsTheJob(t *testing.T) {
	h, fk, id := biosHarness(t)
	fk.FailWith(bmc.MethodReset, errors.New("BMC busy"))
	ctx := context.Background()
	for i := 0; i < 50 && h.job(id).State != model.JobFailed; i++ {
		h.store.Advance(time.Second)
		h.loops.jobs.reconcile(ctx)
		h.loops.jobs.steps.wait()
		h.provPass()
		h.agentsWork()
	}
	j := h.job(id)
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "bios profile turbo-off") || len(h.exec.started) != 0 {
		t.Fatalf("job %s (%q), started %v", j.State, j.Reason, h.exec.started)
	}
	if n := h.node("node001"); n.ProvisionState() == model.ProvAvailable {
		t.Fatal("node available while the BMC holds the profile's pending values")
	}
	fk.FailWith(bmc.MethodReset, nil)
	h.settle()
	if n := h.node("node001"); n.ProvisionState() != model.ProvAvailable {
		t.Fatalf("node %s (%s)", n.ProvisionState(), n.Reason)
	}
	if got := fk.BIOS(); got["ProcTurboMode"] != "Enabled" || got["ProcCoreDisable"] != "0" {
		t.Fatalf("BIOS after the cleaning: %v", got)
	}
	if got := h.biosEntries("node001"); len(got) < 2 || got[0] != "bios-profile failed alice" || got[len(got)-1] != "bios-restore ok alice" {
		t.Fatalf("ledger %v", got)
	}
}

// TestBIOSChangedBehindIbexQuarantines: the cleaning finds an attribute
// different from what ibex verified: the node is quarantined, not
// cleaned.
func TestBIOSChangedBehindIbexQuarantines(t *testing.T) {
	h, fk, id := biosHarness(t)
	h.settle()
	fk.SetBIOS(map[string]string{"ProcTurboMode": "Enabled", "ProcCoreDisable": "2", "BootMode": "Uefi"}) // the tenant's doing
	h.exec.exit(id, "node001", 0)
	h.settle()
	n := h.node("node001")
	if n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "behind ibex's back") || !strings.Contains(n.Reason, "ProcTurboMode") {
		t.Fatalf("node %s (%q)", n.State, n.Reason)
	}
}

// TestBIOSRestoreFailuresQuarantine: a restore that keeps failing uses
// up the cleaning's budget and quarantines the node.
func TestBIOSRestoreFailuresQuarantine(t *testing.T) {
	h, fk, id := biosHarness(t)
	h.settle()
	fk.FailWith(bmc.MethodSetBIOSAttributes, errors.New("PATCH refused"))
	h.exec.exit(id, "node001", 0)
	h.settle()
	n := h.node("node001")
	if n.State != model.NodeQuarantined || n.StepFailures[model.TaskBIOSRestore] != model.MaxStepFailures {
		t.Fatalf("node %s (%q) failures %v", n.State, n.Reason, n.StepFailures)
	}
}

// TestBIOSProfileNodeWithoutAgent: a node ibex provisions through its BMC
// but that runs no agent takes a bios profile too, and its cleaning (the
// local executor's) restores the baseline before the node is clean.
func TestBIOSProfileNodeWithoutAgent(t *testing.T) {
	h := newProvHarness(t, 1, 2, nil)
	h.available("node001", false)
	fk := h.bmcs.fake("node001")
	fk.SetBIOS(map[string]string{"ProcTurboMode": "Enabled", "ProcCoreDisable": "0"})
	h.apply(&fsm.AddFirmwareProfile{Profile: turboOff, By: "admin", Time: h.store.Now()})
	id := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"true"}, FirmwareProfile: "turbo-off"}, Time: h.store.Now()}).(uint64)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning || fk.BIOS()["ProcTurboMode"] != "Disabled" {
		t.Fatalf("job %s (%s), BIOS %v; %s", j.State, j.Reason, fk.BIOS(), h)
	}
	h.exec.exit(id, "node001", 0)
	h.settle()
	if n := h.node("node001"); n.ProvisionState() != model.ProvAvailable || fk.BIOS()["ProcTurboMode"] != "Enabled" {
		t.Fatalf("after the job: %s, BIOS %v", n.ProvisionState(), fk.BIOS())
	}
	if got, want := h.biosEntries("node001"), []string{"bios-profile ok alice", "bios-restore ok alice"}; !slices.Equal(got, want) {
		t.Fatalf("ledger %v, want %v", got, want)
	}
}
