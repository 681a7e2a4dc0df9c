package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxJobRecordBytes bounds one job's record.
const maxJobRecordBytes = 64 << 10

// jobState is a job's state in the agent's journal.
type jobState string

const (
	// jobAccepted: the task is recorded and nothing was started (the agent
	// waits for the job's partition key). Found at restart it means the
	// agent died before starting anything: the job is refused, not started.
	jobAccepted jobState = "accepted"
	// jobStarting: the runner is being asked to start the job. Found at
	// restart, the runner's files tell whether it did.
	jobStarting jobState = "starting"
	jobRunning  jobState = "running"
	jobExited   jobState = "exited"
	jobLost     jobState = "lost"    // started, gone, no exit status
	jobRefused  jobState = "refused" // never started; Reason says why
)

func (s jobState) valid() bool {
	switch s {
	case jobAccepted, jobStarting, jobRunning, jobExited, jobLost, jobRefused:
		return true
	}
	return false
}

// ended reports whether the state is final.
func (s jobState) ended() bool { return s == jobExited || s == jobLost || s == jobRefused }

// jobRecord is one job's journal entry. Its existence is the at-most-once
// guarantee: a job with a record is never started again, whatever task
// id or term asks for it.
type jobRecord struct {
	JobID    uint64   `json:"job_id"`
	TaskID   string   `json:"task_id,omitempty"`
	Term     uint64   `json:"term,omitempty"`
	State    jobState `json:"state"`
	ExitCode int      `json:"exit_code,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// Stopped is the reason of the first stop task: a job that vanishes
	// after it was killed on purpose.
	Stopped string `json:"stopped,omitempty"`
	// Allocation marks an interactive allocation: the job has no process
	// of its own (execs come later) and runs until it is stopped.
	Allocation bool `json:"allocation,omitempty"`
	// Accounting, from the runner's status (the job's cgroup).
	CPUUsec         uint64    `json:"cpu_usec,omitempty"`
	MemoryPeakBytes uint64    `json:"memory_peak_bytes,omitempty"`
	OutputBytes     int64     `json:"output_bytes,omitempty"`
	Updated         time.Time `json:"updated"`
	// Results of the stop tasks that succeeded, by task id: a resent
	// stop gets the same answer.
	Results map[string]*savedResult `json:"results,omitempty"`
}

// parseJobRecord reads one record's JSON for job id.
func parseJobRecord(id uint64, b []byte) (*jobRecord, error) {
	if len(b) > maxJobRecordBytes {
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), maxJobRecordBytes)
	}
	rec := &jobRecord{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, err
	}
	if rec.JobID != id {
		return nil, fmt.Errorf("holds job %d, not %d", rec.JobID, id)
	}
	if !rec.State.valid() {
		return nil, fmt.Errorf("unknown state %q", rec.State)
	}
	for tid, r := range rec.Results {
		if r == nil {
			return nil, fmt.Errorf("empty result for task %q", tid)
		}
	}
	return rec, nil
}

// loadLegacyJobs reads every record of an older agent's job journal
// directory, if there is one. A damaged file still yields a record for its
// job (from the file name), ended as lost: the job must not start again,
// whatever its real state was. Its path is in damaged, to be moved aside
// for the operator once the records are in the new log (removeLegacyJobs):
// moved before, a crash in between would forget the job.
func loadLegacyJobs(dir string) (recs map[uint64]*jobRecord, damaged []string, warnings []error, err error) {
	recs = map[uint64]*jobRecord{}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return recs, nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("agent: job journal: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() {
			continue // temporary files of an interrupted write, aside copies
		}
		id, perr := strconv.ParseUint(name, 10, 64)
		if perr != nil || id == 0 {
			continue
		}
		path := filepath.Join(dir, e.Name())
		rec, rerr := readJobRecord(path, id)
		if rerr != nil {
			damaged = append(damaged, path)
			warnings = append(warnings, fmt.Errorf("job journal %s unreadable (%v), kept as %s.corrupt-*; job %d is reported lost and never started here", path, rerr, path, id))
			rec = &jobRecord{JobID: id, State: jobLost, Reason: "the agent's journal entry for the job was damaged", Updated: time.Now()}
		}
		recs[id] = rec
	}
	return recs, damaged, warnings, nil
}

func readJobRecord(path string, id uint64) (*jobRecord, error) {
	b, err := readBoundedFile(path, maxJobRecordBytes)
	if err != nil {
		return nil, err
	}
	return parseJobRecord(id, b)
}

// removeLegacyJobs, once the log holds recs, moves the damaged files of an
// older agent's job journal aside, removes the others, and the directory
// unless files moved aside are left in it.
func removeLegacyJobs(dir string, recs map[uint64]*jobRecord, damaged []string) {
	now := time.Now().Unix()
	for _, path := range damaged {
		_ = os.Rename(path, fmt.Sprintf("%s.corrupt-%d", path, now))
	}
	for id := range recs {
		_ = os.Remove(filepath.Join(dir, strconv.FormatUint(id, 10)+".json"))
	}
	_ = os.Remove(dir)
}
