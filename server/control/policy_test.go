package control

import (
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// TestPassesScheduleWithTheConfiguredPolicy: the job controller plans with
// Config.Policy (ibexd --policy), not a built-in one. A short one-node job
// behind a blocked four-node head is backfilled under ibex and waits
// under FCFS, which never backfills.
func TestPassesScheduleWithTheConfiguredPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy       scheduler.Policy
		wantBackfill bool
	}{
		{scheduler.IbexPolicy(), true},
		{scheduler.FCFSPolicy(), false},
	} {
		t.Run(tc.policy.Name, func(t *testing.T) {
			h := newHarness(t, pkeypool.Pool{}, false)
			if tc.policy.Name != "ibex" {
				h.loops.jobs.cfg.Policy = tc.policy
			}
			running := h.submit("alice", 3, time.Hour)
			h.pass()
			if j := h.job(running); j.State != model.JobScheduled {
				t.Fatalf("three-node job: %s, want scheduled", j.State)
			}
			head := h.submit("alice", 4, time.Hour)
			short := h.submit("bob", 1, 10*time.Minute)
			h.pass()
			if j := h.job(head); j.State != model.JobPending {
				t.Fatalf("four-node head on 1 free node: %s, want pending", j.State)
			}
			if got := h.job(short).State != model.JobPending; got != tc.wantBackfill {
				t.Fatalf("short one-node job under %s: %s, want backfilled %v", tc.policy.Name, h.job(short).State, tc.wantBackfill)
			}
		})
	}
}
