package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// deployedFor takes node (available, with an agent) through the
// deployment of image for job id.
func deployedFor(t *testing.T, f *FSM, node string, id uint64, image string) {
	t.Helper()
	prov(t, f, node, model.EvDeploy, func(c *Provision) { c.Job, c.Image, c.Step = id, image, model.StepPowerCycle })
	for _, s := range []model.DeployStep{model.StepRamdisk, model.StepImage} {
		prov(t, f, node, model.EvDeployStep, func(c *Provision) { c.Step = s })
	}
	must(t, f.Apply(&StartTask{Node: node, Task: model.NodeTask{ID: "img-" + node, Kind: model.TaskImage, Image: image, Started: t0}}))
	must(t, f.Apply(&TaskDone{Node: node, TaskID: "img-" + node, OK: true, Evidence: "digest ok", Time: t0}))
	for _, s := range []model.DeployStep{model.StepBootDisk, model.StepCheckIn} {
		prov(t, f, node, model.EvDeployStep, func(c *Provision) { c.Step = s })
	}
	prov(t, f, node, model.EvDeployed)
}

// TestBIOSProfileLifecycle: a bios profile needs nodes with BMCs at
// submission; the job starts only once the profile's attributes were read
// back on its node; the node is clean only once the baseline was read
// back; readings that do not match are refused and change nothing.
func TestBIOSProfileLifecycle(t *testing.T) {
	f := harness(t, 2)
	available(t, f, "node001")
	must(t, f.Apply(&AddImage{Image: model.Image{Name: "rocky", Version: "9", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/r"}}))
	enrolled(t, f, "node001")
	agentClean(t, f, "node001")
	turbo := model.FirmwareProfile{Name: "turbo-off", Kind: model.ProfileBIOS, BIOS: map[string]string{"ProcTurboMode": "Disabled", "ProcCoreDisable": "2"}}
	must(t, f.Apply(&AddFirmwareProfile{Profile: turbo, By: "root", Time: t0}))

	job := func(n int) *SubmitJob {
		return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: n, TimeLimit: time.Hour, Argv: []string{"x"}, FirmwareProfile: "turbo-off"}, Time: t0}
	}
	before := f.View().Hash()
	if r := f.Apply(job(2)); !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "only 1 nodes have a registered BMC") {
		t.Fatalf("two nodes, one BMC: %v", r.Err)
	}
	if f.View().Hash() != before {
		t.Fatal("a refused submission changed the state")
	}
	id := must(t, f.Apply(job(1))).(uint64)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	deployedFor(t, f, "node001", id, "rocky:9")
	if r := f.Apply(&StartJob{JobID: id, Time: t0}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "bios profile") {
		t.Fatalf("started before the BIOS profile was applied: %v", r.Err)
	}

	base := map[string]string{"ProcTurboMode": "Enabled", "ProcCoreDisable": "0"}
	applied := func(readings, baseline map[string]string) *BIOSProfileApplied {
		return &BIOSProfileApplied{Node: "node001", JobID: id, Profile: "turbo-off", Baseline: baseline, Readings: readings, ApplyTime: "OnReset", Start: t0, Time: t0.Add(time.Second)}
	}
	before = f.View().Hash()
	for name, c := range map[string]*BIOSProfileApplied{
		"not read back":   applied(map[string]string{"ProcTurboMode": "Enabled", "ProcCoreDisable": "2"}, base),
		"no baseline":     applied(turbo.BIOS, map[string]string{"ProcTurboMode": "Enabled"}),
		"another job":     {Node: "node001", JobID: id + 1, Profile: "turbo-off", Baseline: base, Readings: turbo.BIOS},
		"another profile": {Node: "node001", JobID: id, Profile: "sriov", Baseline: base, Readings: turbo.BIOS},
		"no BMC":          {Node: "node002", JobID: id, Profile: "turbo-off", Baseline: base, Readings: turbo.BIOS},
	} {
		if r := f.Apply(c); r.Err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if f.View().Hash() != before {
		t.Fatal("a refused record changed the state")
	}
	must(t, f.Apply(&BIOSStepFailed{Node: "node001", JobID: id, Step: StepBIOSProfile, Error: "BMC said 503", Time: t0}))
	if e := lastEntry(f, "node001"); e.Step != StepBIOSProfile || e.OK || e.Tenant != "alice" {
		t.Fatalf("failure entry: %+v", e)
	}
	must(t, f.Apply(applied(turbo.BIOS, base)))
	e := lastEntry(f, "node001")
	if e.Step != StepBIOSProfile || !e.OK || e.Tenant != "alice" || !strings.Contains(e.Evidence, "ProcTurboMode=Disabled") || !strings.Contains(e.Evidence, "ProcTurboMode=Enabled") {
		t.Fatalf("ledger entry: %+v", e)
	}
	must(t, f.Apply(&StartJob{JobID: id, Time: t0}))
	zero := 0
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, ExitCode: &zero, Time: t0.Add(time.Minute)}))

	n := f.View().Nodes["node001"]
	if n.State != model.NodeCleaning || n.BIOS == nil || n.BIOS.Profile != "turbo-off" {
		t.Fatalf("after the job: %s %+v", n.State, n.BIOS)
	}
	for _, k := range []model.TaskKind{model.TaskErase, model.TaskFirmware} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "c-" + string(k), Kind: k, Started: t0}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "c-" + string(k), OK: true, Evidence: "ok", Time: t0}))
	}
	cleaned := &NodeCleaned{Node: "node001", JobID: id, Evidence: "clean", Time: t0.Add(3 * time.Minute)}
	if r := f.Apply(cleaned); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "bios profile") {
		t.Fatalf("clean while the BIOS runs the profile: %v", r.Err)
	}
	if r := f.Apply(&BIOSRestored{Node: "node001", JobID: id, Readings: turbo.BIOS, Time: t0}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("restore record with the profile's values: %v", r.Err)
	}
	must(t, f.Apply(&BIOSStepFailed{Node: "node001", JobID: id, Step: StepBIOSRestore, Error: "reset refused", Time: t0}))
	if got := f.View().Nodes["node001"].StepFailures[model.TaskBIOSRestore]; got != 1 {
		t.Fatalf("restore failures %d, want 1", got)
	}
	must(t, f.Apply(&BIOSRestored{Node: "node001", JobID: id, Readings: base, Time: t0.Add(2 * time.Minute)}))
	if e := lastEntry(f, "node001"); e.Step != StepBIOSRestore || !e.OK || !strings.Contains(e.Evidence, "ProcTurboMode=Enabled") {
		t.Fatalf("restore entry: %+v", e)
	}
	must(t, f.Apply(cleaned))
	if b := f.View().Nodes["node001"].BIOS; b == nil || b.Profile != "" || b.Verified["ProcTurboMode"] != "Enabled" {
		t.Fatalf("after cleaning: %+v", b)
	}
	if _, err := model.VerifyChain(f.View().Ledger["node001"]); err != nil {
		t.Fatal(err)
	}
}
