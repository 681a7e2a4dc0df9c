package control

import (
	"strconv"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// maxArrayStartsPerPass bounds the copies of one array record a pass hands
// the scheduler: each is a task that may start now (the FSM splits one
// task off the record per Allocate).
const maxArrayStartsPerPass = 64

// eligible is the pass's queue after the pipeline rules (fsm.Work.Blocked,
// computed from the state, and the begin times at now): the jobs that may
// start, with each array record repeated once per task that may start
// now, and the reasons of the others.
func eligible(w *fsm.Work, now time.Time) (jobs []*model.Job, reasons map[uint64]string) {
	reasons = map[uint64]string{}
	for _, j := range w.Pending {
		why := w.Blocked[j.ID]
		if why == "" {
			why = pipeline.BeginReason(j, now)
		}
		if why != "" {
			reasons[j.ID] = why
			continue
		}
		jobs = append(jobs, j)
		for range min(w.ArrayRoom[j.ID], maxArrayStartsPerPass) - 1 {
			jobs = append(jobs, j)
		}
	}
	return jobs, reasons
}

// arrayEnv is an array task's environment, under ibex's and Slurm's names.
func arrayEnv(j *model.Job) []string {
	if j.ArrayJobID == 0 || len(j.ArrayPending) > 0 {
		return nil
	}
	var env []string
	for _, p := range []string{"IBEX_", "SLURM_"} {
		env = append(env,
			p+"ARRAY_JOB_ID="+strconv.FormatUint(j.ArrayJobID, 10),
			p+"ARRAY_TASK_ID="+strconv.Itoa(j.ArrayTaskID),
			p+"ARRAY_TASK_COUNT="+strconv.Itoa(j.ArrayCount),
			p+"ARRAY_TASK_MIN="+strconv.Itoa(j.ArrayMin),
			p+"ARRAY_TASK_MAX="+strconv.Itoa(j.ArrayMax),
		)
	}
	return env
}
