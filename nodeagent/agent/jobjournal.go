package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// jobJournalFile in Config.DataDir is the job journal: a log (record.go)
// whose records each hold one job's whole record, or its removal; the
// latest record of a job wins. Each change is one small append, fsynced
// before the agent acts on it. It was one file per job, written through a
// new file and a rename at every change (five per job): on the simulated
// cluster's one ext4 disk those file creations were most of what a tiny
// job cost ibexd's CPU (bench/agentpath's profile).
const jobJournalFile = "jobs.log"

// legacyJobJournalDir is the job journal of agents before the log, one
// <job id>.json per job; openJobJournal converts it.
const legacyJobJournalDir = "job-journal"

// maxJobRecordBytes bounds one job's record.
const maxJobRecordBytes = 64 << 10

// maxJobJournalBytes bounds the job journal read at start (maxJobRecords
// records of at most maxJobRecordBytes, compactFactor times over, is far
// more than a real journal holds).
const maxJobJournalBytes = 256 << 20

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

// jobJournal is the job journal's log. Its methods are safe for
// concurrent use.
type jobJournal struct {
	mu      sync.Mutex
	path    string
	nosync  bool              // Agent.JournalNoSync
	live    map[uint64][]byte // each job's latest record as written, for compaction
	f       *os.File          // open for appending; nil until the first append
	records int               // records in the file, live or superseded
	rewrite bool              // the next write compacts (no file yet, or a failed append)
}

// openJobJournal reads the job journal in dataDir (converting the older
// one-file-per-job journal). A damaged record still yields a record for
// its job, ended as lost: the job must not start again, whatever its real
// state was; the damaged log is kept aside for the operator. A torn last
// record (the agent died while appending it, before acting on it) is
// dropped.
func openJobJournal(dataDir string, nosync bool) (j *jobJournal, recs map[uint64]*jobRecord, warnings []error, err error) {
	j = &jobJournal{path: filepath.Join(dataDir, jobJournalFile), nosync: nosync, live: map[uint64][]byte{}}
	recs = map[uint64]*jobRecord{}
	b, err := readBoundedFile(j.path, maxJobJournalBytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("agent: job journal: %w", err)
	}
	if b == nil {
		legacy := filepath.Join(dataDir, legacyJobJournalDir)
		recs, warnings, err = loadLegacyJobs(legacy)
		if err != nil {
			return nil, nil, warnings, err
		}
		for _, rec := range recs {
			if err := j.keep(rec); err != nil {
				return nil, nil, warnings, err
			}
		}
		if err := j.compact(); err != nil {
			return nil, nil, warnings, err
		}
		removeLegacyJobs(legacy, recs)
		return j, recs, warnings, nil
	}
	damaged := false
	torn, _ := eachRecord(b, func(payload []byte) error {
		id, body, err := splitJobPayload(payload)
		if err != nil {
			return err
		}
		j.records++
		if body == nil {
			delete(recs, id)
			delete(j.live, id)
			return nil
		}
		rec, err := parseJobRecord(id, body)
		if err != nil {
			return err
		}
		recs[id] = rec
		j.live[id] = payload
		return nil
	}, func(n int, line []byte, err error) error {
		damaged = true
		// The job id is read without the checksum's word for it: at
		// worst an unrelated job is reported lost, never one started twice.
		id, _, idErr := splitJobPayload(line[min(len(line), 9):])
		if idErr != nil {
			warnings = append(warnings, fmt.Errorf("job journal %s: record %d unreadable (%v), and so is its job id", j.path, n, err))
			return nil
		}
		warnings = append(warnings, fmt.Errorf("job journal %s: record %d unreadable (%v); job %d is reported lost and never started here", j.path, n, err, id))
		recs[id] = &jobRecord{JobID: id, State: jobLost, Reason: "the agent's journal entry for the job was damaged", Updated: time.Now()}
		return nil
	})
	if damaged {
		aside := fmt.Sprintf("%s.corrupt-%d", j.path, time.Now().Unix())
		if err := os.Rename(j.path, aside); err == nil {
			warnings = append(warnings, fmt.Errorf("job journal: the damaged log is kept as %s", aside))
		}
	}
	if torn {
		warnings = append(warnings, fmt.Errorf("job journal %s: dropped a torn last record (the agent stopped while writing it, before acting on it)", j.path))
	}
	if damaged || torn {
		// Write what was read, whole, before anything else happens: the
		// lost records must be on disk before a resend could ask for
		// their jobs, and no fragment may stay before new records.
		for _, rec := range recs {
			if err := j.keep(rec); err != nil {
				return nil, nil, warnings, err
			}
		}
		if err := j.compact(); err != nil {
			return nil, nil, warnings, fmt.Errorf("agent: job journal: %w", err)
		}
	}
	return j, recs, warnings, nil
}

// splitJobPayload splits "<job id> <record JSON>" or "<job id> -" (a
// removal, body nil).
func splitJobPayload(p []byte) (id uint64, body []byte, err error) {
	idText, body, ok := bytes.Cut(p, []byte{' '})
	if !ok {
		return 0, nil, errors.New("no job id")
	}
	id, err = strconv.ParseUint(string(idText), 10, 64)
	if err != nil || id == 0 {
		return 0, nil, fmt.Errorf("bad job id %q", idText)
	}
	if string(body) == "-" {
		return id, nil, nil
	}
	return id, body, nil
}

// keep encodes rec as its job's latest record, without writing it.
func (j *jobJournal) keep(rec *jobRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if len(b) > maxJobRecordBytes {
		return fmt.Errorf("job journal: job %d's record is %d bytes, more than %d", rec.JobID, len(b), maxJobRecordBytes)
	}
	j.live[rec.JobID] = append(strconv.AppendUint(nil, rec.JobID, 10), append([]byte{' '}, b...)...)
	return nil
}

// save records rec, fsynced unless nosync.
func (j *jobJournal) save(rec *jobRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.keep(rec); err != nil {
		return err
	}
	return j.write(j.live[rec.JobID])
}

// remove records that a job is forgotten.
func (j *jobJournal) remove(id uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.live[id]; !ok {
		return nil
	}
	delete(j.live, id)
	return j.write(append(strconv.AppendUint(nil, id, 10), " -"...))
}

// write appends one record, or compacts when the log is due: it holds
// compactFactor times more records than jobs, plus slack so that a node
// with few jobs does not compact at every change.
func (j *jobJournal) write(payload []byte) error {
	if j.rewrite || j.records >= compactFactor*len(j.live)+256 {
		return j.compact()
	}
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			j.rewrite = true
			return fmt.Errorf("job journal: %w", err)
		}
		j.f = f
	}
	_, err := j.f.Write(appendRecord(nil, payload))
	if err == nil && !j.nosync {
		err = j.f.Sync()
	}
	if err != nil {
		// The file may end in part of a record now: the next write
		// replaces it whole.
		j.f.Close()
		j.f, j.rewrite = nil, true
		return fmt.Errorf("job journal: %w", err)
	}
	j.records++
	return nil
}

// close releases the log's file.
func (j *jobJournal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// compact replaces the log with one record per live job, atomically.
func (j *jobJournal) compact() error {
	ids := make([]uint64, 0, len(j.live))
	for id := range j.live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b []byte
	for _, id := range ids {
		b = appendRecord(b, j.live[id])
	}
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	if err := writeFileAtomicSync(j.path, b, !j.nosync); err != nil {
		j.rewrite = true
		return fmt.Errorf("job journal: %w", err)
	}
	j.records, j.rewrite = len(ids), false
	return nil
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
// whatever its real state was. It is moved aside for the operator.
func loadLegacyJobs(dir string) (recs map[uint64]*jobRecord, warnings []error, err error) {
	recs = map[uint64]*jobRecord{}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return recs, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("agent: job journal: %w", err)
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
			aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
			_ = os.Rename(path, aside)
			warnings = append(warnings, fmt.Errorf("job journal %s unreadable (%v), moved to %s; job %d is reported lost and never started here", path, rerr, aside, id))
			rec = &jobRecord{JobID: id, State: jobLost, Reason: "the agent's journal entry for the job was damaged", Updated: time.Now()}
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

// removeLegacyJobs removes the converted files of an older agent's job
// journal, and the directory unless files moved aside are left in it.
func removeLegacyJobs(dir string, recs map[uint64]*jobRecord) {
	for id := range recs {
		_ = os.Remove(filepath.Join(dir, strconv.FormatUint(id, 10)+".json"))
	}
	_ = os.Remove(dir)
}

// readBoundedFile returns (nil, nil) for a missing file, an empty non-nil
// slice for an empty one, and an error for one bigger than limit.
func readBoundedFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}
