package simnode_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// TestFirmwareProfileOnRealAgents: an admin approves a profile (another
// HCA firmware and two settings) through the API; a job that asks for it
// runs only once the nodes' real agents applied it on their simulated
// HCAs (firmware.Fake behind the agent's mstflint path), and after the job
// the agents' cleaning restores the pinned baseline, settings at their
// defaults, before the nodes are ready again; every step is in the ledger.
func TestFirmwareProfileOnRealAgents(t *testing.T) {
	c := startSimCluster(t, 2, "")
	c.waitReadyAndConnected(t)
	tk := simnode.Tinker()
	_, err := c.cl.Fleet.AddFirmwareProfile(c.ctx, &pb.FirmwareProfile{Name: "sriov", Kind: "hca",
		Hca: []*pb.HCAProfileRule{{Psid: tk.PSID, Version: tk.Version, Sha256: tk.SHA256, File: tk.File,
			Config: map[string]string{"SRIOV_EN": "1", "NUM_OF_VFS": "8"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.cl.Jobs.Submit(c.ctx, &pb.SubmitRequest{NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Script: "#!/bin/sh\nsleep 2\n",
		FirmwareProfile: "sriov"})
	if err != nil {
		t.Fatal(err)
	}
	var job *pb.Job
	testutil.WaitFor(t, "the job to run", 60*time.Second, func() bool {
		job, err = c.cl.Jobs.Get(c.ctx, &pb.GetJobRequest{JobId: r.JobId})
		return err == nil && (job.State == "running" || job.State == "completed" || job.State == "failed")
	})
	if job.State == "failed" {
		t.Fatalf("job failed: %s", job.Reason)
	}
	if job.State == "running" {
		for _, name := range job.Nodes {
			n := c.fleet.Node(name)
			if cur, _ := n.HCASetting("SRIOV_EN"); n.RunningFirmware() != simnode.TinkerFirmware || cur != "1" {
				t.Errorf("%s runs %s with SRIOV_EN=%s while the job runs, want the profile's %s and 1", name, n.RunningFirmware(), cur, simnode.TinkerFirmware)
			}
		}
	}
	testutil.WaitFor(t, "the job to end", 60*time.Second, func() bool {
		job, err = c.cl.Jobs.Get(c.ctx, &pb.GetJobRequest{JobId: r.JobId})
		return err == nil && (job.State == "completed" || job.State == "failed" || job.State == "timeout")
	})
	if job.State != "completed" {
		t.Fatalf("job %s: %s", job.State, job.Reason)
	}
	c.waitReadyAndConnected(t)
	for _, name := range job.Nodes {
		n := c.fleet.Node(name)
		cur, next := n.HCASetting("SRIOV_EN")
		vfs, _ := n.HCASetting("NUM_OF_VFS")
		if n.RunningFirmware() != simnode.PinnedFirmware || cur != "0" || next != "0" || vfs != "0" {
			t.Errorf("%s after the job: firmware %s, SRIOV_EN %s (next %s), NUM_OF_VFS %s; want the baseline %s with defaults",
				name, n.RunningFirmware(), cur, next, vfs, simnode.PinnedFirmware)
		}
		d := c.detail(t, name)
		steps := ledgerSteps(d, r.JobId)
		p, s, f := slices.Index(steps, "firmware-profile:true"), slices.Index(steps, "stop:true"), slices.Index(steps, "firmware:true")
		if p < 0 || s < p || f < s || steps[len(steps)-1] != "cleaned:true" {
			t.Errorf("%s: ledger of job %d %v, want the profile applied, then stop, ..., firmware (the baseline), cleaned", name, r.JobId, steps)
		}
		for _, e := range d.Ledger {
			if e.JobId == r.JobId && e.Step == "firmware" && !strings.Contains(e.Evidence, "found as ibex left it (profile sriov") {
				t.Errorf("%s: restore evidence %s", name, e.Evidence)
			}
		}
	}

	// The next tenancy: the agents' hand-out checks read the settings ibex
	// verified (at their defaults) along with the firmware, and pass.
	r, err = c.cl.Jobs.Submit(c.ctx, &pb.SubmitRequest{NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the next job to complete", 60*time.Second, func() bool {
		job, err = c.cl.Jobs.Get(c.ctx, &pb.GetJobRequest{JobId: r.JobId})
		return err == nil && (job.State == "completed" || job.State == "failed")
	})
	if job.State != "completed" {
		t.Fatalf("next job %s: %s", job.State, job.Reason)
	}
	for _, name := range job.Nodes {
		d := c.detail(t, name)
		for i, e := range d.Ledger {
			if e.JobId == r.JobId {
				if h := d.Ledger[i-1]; h.Step != "handout-check" || !h.Ok || !strings.Contains(h.Evidence, "SRIOV_EN=0") {
					t.Errorf("%s: hand-out check before job %d: %+v", name, r.JobId, h)
				}
				break
			}
		}
	}
}
