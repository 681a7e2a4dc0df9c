package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// jobJournalDir in Config.DataDir holds one file per job this node was
// asked to run, <job id>.json. One file per job keeps every write small
// (the journal is fsynced before each step) and a damaged file confined
// to its job.
const jobJournalDir = "job-journal"

// maxJobRecordBytes bounds a journal file read at start.
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

// jobFile is the record's path under dir.
func jobFile(dir string, id uint64) string {
	return filepath.Join(dir, strconv.FormatUint(id, 10)+".json")
}

// saveJob writes rec atomically (fsynced).
func saveJob(dir string, rec *jobRecord) error { return saveJobSync(dir, rec, true) }

// saveJobSync is saveJob, without the fsyncs when sync is false
// (Agent.JournalNoSync).
func saveJobSync(dir string, rec *jobRecord, sync bool) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := writeFileAtomicSync(jobFile(dir, rec.JobID), b, sync); err != nil {
		return fmt.Errorf("job journal: %w", err)
	}
	return nil
}

// parseJobRecord reads one journal file's content for job id.
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

// loadJobs reads every record in dir. A damaged file still yields a
// record for its job (from the file name), ended as lost: the job must
// not start again, whatever its real state was. It is moved aside for
// the operator.
func loadJobs(dir string) (recs map[uint64]*jobRecord, warnings []error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("agent: job journal: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: job journal: %w", err)
	}
	recs = map[uint64]*jobRecord{}
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
			aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
			_ = os.Rename(path, aside)
			warnings = append(warnings, fmt.Errorf("job journal %s unreadable (%v), moved to %s; job %d is reported lost and never started here", path, rerr, aside, id))
			rec = &jobRecord{JobID: id, State: jobLost, Reason: "the agent's journal entry for the job was damaged", Updated: time.Now()}
			if serr := saveJob(dir, rec); serr != nil {
				return nil, warnings, serr
			}
		}
		recs[id] = rec
	}
	return recs, warnings, nil
}

func readJobRecord(path string, id uint64) (*jobRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJobRecordBytes+1))
	if err != nil {
		return nil, err
	}
	return parseJobRecord(id, b)
}

// removeJob deletes a job's record.
func removeJob(dir string, id uint64) error {
	if err := os.Remove(jobFile(dir, id)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
