package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
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

// maxJobJournalBytes bounds the job journal read at start. A compacted log
// holds at most maxJobRecords records (each far below maxJobRecordBytes in
// practice: a few hundred bytes) and grows to compactFactor times that plus
// jobLogSlack records before it is compacted again.
const maxJobJournalBytes = 256 << 20

// jobLogSlack: records a log may hold beyond compactFactor per job before
// it is compacted, so that a node with few jobs does not compact at every
// change.
const jobLogSlack = 256

// jobJournal is the job journal's log. Its methods are safe for
// concurrent use.
type jobJournal struct {
	mu      sync.Mutex
	slack   int               // jobLogSlack; smaller in tests
	live    map[uint64][]byte // each job's latest record as written, for compaction
	floor   uint64            // jobs up to this id without a record are refused (refuses)
	logFile                   // jobs.log (record.go)
}

// openJobJournal reads the job journal in dataDir (converting the older
// one-file-per-job journal). A torn last record (the agent died while
// appending it, before acting on it) is dropped. A damaged record still
// leaves its job unable to start twice: a job with no other record is
// recorded lost; one that was accepted, starting or running is recorded
// starting, so that adoption asks the runner what became of it; and a
// record whose job id is unreadable refuses every job up to the highest id
// the log names (job ids only grow, so that covers it unless it was the
// newest job of the log). A damaged log is copied aside for the operator before the
// log is rewritten from what was read.
func openJobJournal(dataDir string, nosync bool) (j *jobJournal, recs map[uint64]*jobRecord, warnings []error, err error) {
	j = &jobJournal{slack: jobLogSlack, live: map[uint64][]byte{}, logFile: logFile{path: filepath.Join(dataDir, jobJournalFile), nosync: nosync}}
	removeTempFiles(j.path)
	recs = map[uint64]*jobRecord{}
	b, err := readBoundedFile(j.path, maxJobJournalBytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("agent: job journal: %w", err)
	}
	if b == nil {
		legacy := filepath.Join(dataDir, legacyJobJournalDir)
		recs, damaged, warnings, err := loadLegacyJobs(legacy)
		if err != nil {
			return nil, nil, warnings, err
		}
		if err := j.rewriteFrom(recs); err != nil {
			return nil, nil, warnings, err
		}
		removeLegacyJobs(legacy, recs, damaged)
		return j, recs, warnings, nil
	}
	var maxID uint64
	damaged := false
	torn, _ := eachRecord(b, func(payload []byte) error {
		if rest, ok := bytes.CutPrefix(payload, []byte("floor ")); ok {
			f, err := strconv.ParseUint(string(rest), 10, 64)
			if err != nil {
				return fmt.Errorf("bad floor %q", rest)
			}
			j.floor = max(j.floor, f)
			j.records++
			return nil
		}
		id, body, err := splitJobPayload(payload)
		if err != nil {
			return err
		}
		maxID = max(maxID, id)
		if body == nil {
			delete(recs, id)
			delete(j.live, id)
		} else {
			rec, err := parseJobRecord(id, body)
			if err != nil {
				return err
			}
			recs[id], j.live[id] = rec, bytes.Clone(payload)
		}
		j.records++
		return nil
	}, func(n int, line []byte, err error, _ bool) error {
		damaged = true
		// What the line says is read without the checksum's word for
		// it: a damaged digit may name another job, a damaged line
		// break merge two records. So the floor below covers the whole
		// log, and this only settles the job the line seems to be of.
		text := line[min(len(line), 9):]
		if rest, ok := bytes.CutPrefix(text, []byte("floor ")); ok {
			if f, perr := strconv.ParseUint(string(rest), 10, 64); perr == nil {
				j.floor = max(j.floor, f)
			}
			warnings = append(warnings, fmt.Errorf("job journal %s: record %d (the floor) unreadable (%v)", j.path, n, err))
			return nil
		}
		id, _, idErr := splitJobPayload(text)
		if idErr != nil {
			warnings = append(warnings, fmt.Errorf("job journal %s: record %d unreadable (%v), and so is its job id", j.path, n, err))
			return nil
		}
		maxID = max(maxID, id)
		warnings = append(warnings, fmt.Errorf("job journal %s: record %d, of job %d, unreadable (%v)", j.path, n, id, err))
		recs[id] = damagedRecord(id, recs[id])
		return nil
	})
	if damaged {
		j.floor = max(j.floor, maxID)
		warnings = append(warnings, fmt.Errorf("job journal: jobs up to id %d that this agent has no record of are refused, never started", j.floor))
	}
	if torn {
		warnings = append(warnings, fmt.Errorf("job journal %s: dropped a torn last record (the agent stopped while writing it, before acting on it)", j.path))
	}
	if !damaged && !torn {
		return j, recs, nil, nil
	}
	if damaged {
		// Damaged: keep a copy for the operator. The log itself is
		// replaced only by the rewrite below, in one rename, so a crash
		// or a failed write leaves it in place to be read again.
		aside := fmt.Sprintf("%s.corrupt-%d", j.path, time.Now().Unix())
		if err := writeFileAtomicSync(aside, b, true); err != nil {
			return nil, nil, warnings, fmt.Errorf("agent: job journal: keep the damaged log: %w", err)
		}
		warnings = append(warnings, fmt.Errorf("job journal: the damaged log is kept as %s", aside))
	}
	// Write what was read, whole, before anything else happens: the
	// records must be on disk before a resend could ask for their jobs,
	// and no fragment may stay before new records.
	if err := j.rewriteFrom(recs); err != nil {
		return nil, nil, warnings, fmt.Errorf("agent: job journal: %w", err)
	}
	return j, recs, warnings, nil
}

// damagedRecord is what a job whose latest record is damaged becomes,
// given its last readable record (nil: none).
func damagedRecord(id uint64, prev *jobRecord) *jobRecord {
	const why = "the agent's journal entry for the job was damaged"
	switch {
	case prev == nil:
		return &jobRecord{JobID: id, State: jobLost, Reason: why, Updated: time.Now()}
	case prev.State.ended():
		return prev // an end is final: nothing later changes it
	case prev.Allocation:
		// Adoption would make a starting allocation anew (its stop may
		// be the damaged record): an allocation is never recreated.
		return &jobRecord{JobID: id, State: jobLost, Reason: why, Allocation: true, Updated: time.Now()}
	default:
		// Accepted, starting or running: it may have been started since.
		// Adoption asks the runner, and a job it has no trace of is lost.
		r := *prev
		r.State, r.Updated = jobStarting, time.Now()
		return &r
	}
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

// refuses says why job id, which has no record, must not start here ("":
// it may).
func (j *jobJournal) refuses(id uint64) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if id <= j.floor {
		return fmt.Sprintf("the agent's job journal was damaged: jobs up to id %d it has no record of are never started here", j.floor)
	}
	return ""
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
	p := strconv.AppendUint(make([]byte, 0, 21+len(b)), rec.JobID, 10)
	j.live[rec.JobID] = append(append(p, ' '), b...)
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
// compactFactor times more records than jobs, plus slack.
func (j *jobJournal) write(payload []byte) error {
	if j.rewrite || j.records >= compactFactor*len(j.live)+j.slack {
		return j.compact()
	}
	if err := j.append(payload); err != nil {
		return fmt.Errorf("job journal: %w", err)
	}
	return nil
}

// rewriteFrom makes recs the live records and writes the log anew.
func (j *jobJournal) rewriteFrom(recs map[uint64]*jobRecord) error {
	clear(j.live)
	for _, rec := range recs {
		if err := j.keep(rec); err != nil {
			return err
		}
	}
	return j.compact()
}

// compact replaces the log with its floor and one record per live job,
// atomically.
func (j *jobJournal) compact() error {
	ids := make([]uint64, 0, len(j.live))
	for id := range j.live {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b []byte
	n := len(ids)
	if j.floor > 0 {
		b = appendRecord(b, strconv.AppendUint([]byte("floor "), j.floor, 10))
		n++
	}
	for _, id := range ids {
		b = appendRecord(b, j.live[id])
	}
	if err := j.replace(b, n); err != nil {
		return fmt.Errorf("job journal: %w", err)
	}
	return nil
}

// close releases the log's file; later writes fail (errJournalClosed).
func (j *jobJournal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.shut()
}
