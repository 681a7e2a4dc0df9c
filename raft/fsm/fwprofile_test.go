package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

const (
	fwPSID     = "MT_0000000223"
	fwBaseline = "20.31.2006"
	fwTinker   = "20.32.1010"
)

// fwDevice is one HCA's readings: every source at version, and settings
// as key → {default, current, next}.
func fwDevice(version string, cfg map[string][3]string) model.FirmwareDevice {
	d := model.FirmwareDevice{Device: "mlx5_0", PSID: fwPSID, Readings: []model.FirmwareReading{
		{Source: model.ReadingFlash, Version: version}, {Source: model.ReadingRunning, Version: version}, {Source: model.ReadingSysfs, Version: version}}}
	for k, v := range cfg {
		d.Config = append(d.Config, model.ConfigReading{Key: k, Default: v[0], Current: v[1], Next: v[2]})
	}
	return d
}

func fwAnswer(t *testing.T, nonce string, before, after model.FirmwareDevice) string {
	return answerJSON(t, model.Answer{Nonce: nonce, Firmware: &model.FirmwareAnswer{Devices: []model.FirmwareDevice{after}, Before: []model.FirmwareDevice{before}}})
}

var sriovProfile = model.FirmwareProfile{Name: "sriov", Kind: model.ProfileHCA,
	HCA: []model.HCAProfileRule{{PSID: fwPSID, Version: fwTinker, SHA256: strings.Repeat("b", 64), File: "fw-tinker.bin",
		Config: map[string]string{"SRIOV_EN": "1"}}}}

// cleanWithFirmware runs node001's erase step and a challenged firmware
// step whose answer found before and left after, and returns the ledger's
// last entry.
func cleanWithFirmware(t *testing.T, f *FSM, id string, before, after model.FirmwareDevice, keys ...string) model.LedgerEntry {
	t.Helper()
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "erase-" + id, Kind: model.TaskErase}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "erase-" + id, OK: true, Evidence: "{}"}))
	ch := &model.Challenge{Nonce: nonceA, Pins: map[string]string{fwPSID: fwBaseline}, Before: true, ConfigKeys: keys}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "fw-" + id, Kind: model.TaskFirmware, Challenge: ch}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "fw-" + id, OK: true, Evidence: "{}", Answer: fwAnswer(t, nonceA, before, after)}))
	return lastEntry(f, "node001")
}

// TestFirmwareProfileLifecycle: a job's approved profile is applied and
// verified before the job may start; the cleaning afterwards must find the
// profile as it was left and leave the baseline (settings at their
// defaults) before the node is clean; firmware that is neither quarantines
// the node.
func TestFirmwareProfileLifecycle(t *testing.T) {
	f := harness(t, 2)
	enrolled(t, f, "node001")
	base := fwDevice(fwBaseline, nil)
	shipped := fwDevice("20.31.1014", nil)
	if e := cleanWithFirmware(t, f, "0", shipped, base); !e.OK {
		t.Fatalf("first cleaning (nothing verified yet, so nothing to compare): %s", e.Evidence)
	}
	must(t, f.Apply(&NodeCleaned{Node: "node001", Evidence: "first", Time: t0}))
	if s := f.View().Nodes["node001"].FirmwareSeen; s == nil || s.Versions[fwPSID] != fwBaseline || s.Profile != "" {
		t.Fatalf("verified baseline not recorded: %+v", s)
	}

	// Refusals at submission.
	job := func(profile string, n int) *SubmitJob {
		return &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: n, TimeLimit: time.Hour, Argv: []string{"x"}, FirmwareProfile: profile}, Time: t0}
	}
	if r := f.Apply(job("sriov", 1)); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("a profile nobody approved: %v", r.Err)
	}
	must(t, f.Apply(&AddFirmwareProfile{Profile: sriovProfile, By: "root", Time: t0}))
	if r := f.Apply(&AddFirmwareProfile{Profile: sriovProfile, Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("a profile approved twice: %v", r.Err)
	}
	must(t, f.Apply(&AddFirmwareProfile{Profile: model.FirmwareProfile{Name: "turbo", Kind: model.ProfileBIOS, BIOS: map[string]string{"ProcTurboMode": "Disabled"}}, Time: t0}))
	if r := f.Apply(job("turbo", 1)); !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "registered BMC") {
		t.Fatalf("a BIOS profile: %v", r.Err)
	}
	if r := f.Apply(job("sriov", 2)); !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "only 1 nodes have an agent") {
		t.Fatalf("two nodes, one agent: %v", r.Err)
	}
	if p := f.View().FirmwareProfiles["sriov"]; p.ApprovedBy != "root" || !p.ApprovedAt.Equal(t0) {
		t.Fatalf("approval not recorded: %+v", p)
	}

	id := must(t, f.Apply(job("sriov", 1))).(uint64)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	if r := f.Apply(&StartJob{JobID: id, Time: t0}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "firmware profile") {
		t.Fatalf("started before the profile was applied: %v", r.Err)
	}
	if r := f.Apply(&RemoveFirmwareProfile{Name: "sriov"}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("removed a profile a job asks for: %v", r.Err)
	}
	ch := &model.Challenge{Nonce: nonceB, Pins: map[string]string{fwPSID: fwTinker}, Config: map[string]map[string]string{fwPSID: {"SRIOV_EN": "1"}}, Before: true}
	if r := f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "p-wrong", Kind: model.TaskFirmwareProfile, Profile: "turbo", Challenge: ch}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("a profile task for another profile: %v", r.Err)
	}
	// The agent says ok, but SRIOV_EN is set only for the next boot: the
	// server refuses the answer.
	tinkered := fwDevice(fwTinker, map[string][3]string{"SRIOV_EN": {"0", "1", "1"}})
	pending := fwDevice(fwTinker, map[string][3]string{"SRIOV_EN": {"0", "0", "1"}})
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "p-0", Kind: model.TaskFirmwareProfile, Profile: "sriov", Challenge: ch}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "p-0", OK: true, Evidence: "{}", Answer: fwAnswer(t, nonceB, base, pending)}))
	if n := f.View().Nodes["node001"]; n.FirmwareProfile != "" || n.StepFailures[model.TaskFirmwareProfile] != 1 {
		t.Fatalf("an unverified profile counted: %q, failures %v", n.FirmwareProfile, n.StepFailures)
	}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "p-1", Kind: model.TaskFirmwareProfile, Profile: "sriov", Challenge: ch}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "p-1", OK: true, Evidence: "{}", Answer: fwAnswer(t, nonceB, base, tinkered)}))
	if e := lastEntry(f, "node001"); !e.OK || e.Step != string(model.TaskFirmwareProfile) || e.Tenant != "alice" {
		t.Fatalf("profile ledger entry: %+v", e)
	}
	must(t, f.Apply(&StartJob{JobID: id, Time: t0}))
	if r := f.Apply(&RemoveFirmwareProfile{Name: "sriov"}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("removed a profile a node runs: %v", r.Err)
	}
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, Time: t0.Add(time.Minute)}))

	// The node still runs the profile: it cannot be clean.
	f.state.Nodes["node001"].Cleaning = []model.TaskKind{model.TaskErase, model.TaskFirmware}
	if r := f.Apply(&NodeCleaned{Node: "node001", JobID: id, Evidence: "x", Time: t0}); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), "still runs firmware profile") {
		t.Fatalf("cleaned while running the profile: %v", r.Err)
	}
	f.state.Nodes["node001"].Cleaning = nil
	// The baseline must be back with SRIOV_EN at its default, current and
	// next boot.
	restored := fwDevice(fwBaseline, map[string][3]string{"SRIOV_EN": {"0", "0", "0"}})
	if e := cleanWithFirmware(t, f, "1", tinkered, fwDevice(fwBaseline, map[string][3]string{"SRIOV_EN": {"0", "1", "1"}}), "SRIOV_EN"); e.OK {
		t.Fatalf("settings not restored, accepted: %s", e.Evidence)
	}
	f.state.Nodes["node001"].StepFailures = nil
	if e := cleanWithFirmware(t, f, "2", tinkered, restored, "SRIOV_EN"); !e.OK || !strings.Contains(e.Evidence, "found as ibex left it (profile sriov") {
		t.Fatalf("restore refused: %s", e.Evidence)
	}
	must(t, f.Apply(&NodeCleaned{Node: "node001", JobID: id, Evidence: "clean", Time: t0.Add(2 * time.Minute)}))
	must(t, f.Apply(&RemoveFirmwareProfile{Name: "sriov"}))

	// A tenant flashes firmware of its own: the cleaning quarantines.
	id = must(t, f.Apply(job("", 1))).(uint64)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0.Add(3 * time.Minute)}))
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, Time: t0.Add(4 * time.Minute)}))
	cleanWithFirmware(t, f, "3", fwDevice("20.99.9999", map[string][3]string{"SRIOV_EN": {"0", "0", "0"}}), restored, "SRIOV_EN")
	n := f.View().Nodes["node001"]
	if n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "unapproved firmware") || !strings.Contains(n.Reason, `"20.99.9999"`) {
		t.Fatalf("unapproved firmware: node %s %q", n.State, n.Reason)
	}
	led := f.View().Ledger["node001"]
	if fw, q := led[len(led)-2], led[len(led)-1]; fw.Step != "firmware" || fw.OK || q.Step != "quarantine" {
		t.Fatalf("ledger: %+v / %+v", fw, q)
	}
}

// TestUnapprovedSettingQuarantines: a setting changed behind ibex's back
// (the version untouched) is unapproved firmware too.
func TestUnapprovedSettingQuarantines(t *testing.T) {
	f := harness(t, 1)
	enrolled(t, f, "node001")
	restored := fwDevice(fwBaseline, map[string][3]string{"SRIOV_EN": {"0", "0", "0"}})
	cleanWithFirmware(t, f, "0", fwDevice("20.31.1014", nil), restored, "SRIOV_EN")
	must(t, f.Apply(&NodeCleaned{Node: "node001", Evidence: "first", Time: t0}))
	id := must(t, f.Apply(&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}}, Time: t0})).(uint64)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, Time: t0.Add(time.Minute)}))
	cleanWithFirmware(t, f, "1", fwDevice(fwBaseline, map[string][3]string{"SRIOV_EN": {"0", "0", "1"}}), restored, "SRIOV_EN")
	if n := f.View().Nodes["node001"]; n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "setting SRIOV_EN") {
		t.Fatalf("a changed setting: node %s %q", n.State, n.Reason)
	}
}
