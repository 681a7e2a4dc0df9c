package control

import (
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// A pass over a 10,000-job queue built maps of every pending job that it
// used for a few: growing them was a millisecond a pass. These build only
// what is used, at its final size.

// startedTenants maps the jobs a plan starts to their tenants (for their
// partition keys).
func startedTenants(pending []*model.Job, start []scheduler.Assignment) map[uint64]string {
	out := make(map[uint64]string, len(start))
	if len(start) == 0 {
		return out
	}
	for _, a := range start {
		out[a.JobID] = ""
	}
	for _, j := range pending {
		if _, ok := out[j.ID]; ok {
			out[j.ID] = j.Tenant
		}
	}
	return out
}

// changedReasons are the reasons that differ from the ones the state
// recorded for pending jobs.
func changedReasons(pending []*model.Job, reasons map[uint64]string) map[uint64]string {
	var ids []uint64
	for _, j := range pending {
		if r, ok := reasons[j.ID]; ok && r != j.Reason {
			ids = append(ids, j.ID)
		}
	}
	out := make(map[uint64]string, len(ids))
	for _, id := range ids {
		out[id] = reasons[id]
	}
	return out
}
