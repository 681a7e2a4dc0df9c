package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// taskState is a journal entry's state.
type taskState string

const (
	// stateStarted: execution began and no verdict was recorded. Found
	// on restart, it means the agent died mid-task: the task is run again
	// from scratch when the server resends it, because a disk may hold a
	// half-written image and only a full redo can be verified.
	stateStarted taskState = "started"
	// stateDone: the verdict is recorded; a resent task gets it back
	// without running again.
	stateDone taskState = "done"
)

// maxJournalEntries bounds the journal. Servers resend only tasks whose
// result they have not recorded, i.e. recent ones; the oldest finished
// entries are dropped first.
const maxJournalEntries = 256

// journalEntry is one task's record.
type journalEntry struct {
	ID       string         `json:"id"`
	Kind     model.TaskKind `json:"kind"`
	State    taskState      `json:"state"`
	Runs     int            `json:"runs"` // times execution started, across restarts
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished,omitzero"`
	Result   *savedResult   `json:"result,omitempty"`

	// enc is the entry's JSON as last saved, nil once it changed: save
	// encodes only what changed (see save).
	enc []byte
}

// savedResult is a TaskResult as stored.
type savedResult struct {
	OK           bool   `json:"ok"`
	Error        string `json:"error,omitempty"`
	EvidenceJSON string `json:"evidence_json,omitempty"`
	Quarantine   bool   `json:"quarantine,omitempty"`
	// AnswerJSON answers the task's challenge (challenge.go).
	AnswerJSON string `json:"answer_json,omitempty"`
}

func (r *savedResult) proto(id string) *pb.TaskResult {
	return &pb.TaskResult{Id: id, Ok: r.OK, Error: r.Error, EvidenceJson: r.EvidenceJSON, Quarantine: r.Quarantine, AnswerJson: r.AnswerJSON}
}

// journal is the on-disk task journal: task id → state and result. Every
// change is written (fsynced) before the agent acts on it, so "done" on
// disk always means the verdict survives a crash, and a crash before
// "done" always means a redo.
//
// The file is a log: each change appends the changed entry as one record
// (record.go), and the latest record of an id wins. Why not rewrite the
// whole journal each time, as it once did: an erase's entry holds its
// challenge answer (~8 KiB), so every save of a full journal wrote up to
// a megabyte through a new file and a rename, twice per task. With 64
// simulated agents on one ext4 disk that was over half of ibexd's CPU
// (inode allocation, rename, block freeing; bench/agentpath's profile).
// The log is rewritten whole (compacted) only when it holds compactFactor
// times more records than its bound (or its entries, when more are
// started), after a torn tail, and after a failed append.
type journal struct {
	mu      sync.Mutex
	max     int             // maxJournalEntries; smaller in tests
	entries []*journalEntry // oldest first
	logFile                 // tasks.log (record.go)
}

// compactFactor: the log is compacted once it holds this many records
// per entry bound, so that the file stays within a few times the size of
// what it says, and a compaction (one write of every entry) is paid once
// per hundreds of appends.
const compactFactor = 4

// maxJournalBytes bounds the journal read at start; a bigger file is
// treated as damaged.
const maxJournalBytes = 64 << 20

// legacyJournalFile is the journal of agents before the log: one JSON
// array, rewritten whole on every change. openJournal converts it.
const legacyJournalFile = "tasks.json"

// openJournal loads path. An unreadable journal is moved aside rather than
// fatal: losing it only means a finished task may run again, which every
// task kind tolerates, whereas refusing to start would strand the node. A
// torn last record (the agent died while appending it, before acting on
// it) is dropped. bound is the number of entries kept (0: maxJournalEntries).
func openJournal(path string, bound int) (j *journal, warning error) {
	if bound <= 0 {
		bound = maxJournalEntries
	}
	j = &journal{max: bound, logFile: logFile{path: path}}
	removeTempFiles(path)
	b, err := readBoundedFile(path, maxJournalBytes)
	if err == nil && b == nil {
		// No log yet: the first save writes it whole (and syncs its
		// directory entry). An older agent's journal becomes its content.
		j.rewrite = true
		return j, j.loadLegacy(filepath.Join(filepath.Dir(path), legacyJournalFile))
	}
	var torn bool
	if err == nil {
		torn, err = j.replay(b)
	}
	if err != nil {
		j.entries, j.records, j.rewrite = nil, 0, true
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr == nil {
			return j, fmt.Errorf("task journal %s unreadable (%v); moved to %s and starting empty", path, err, aside)
		}
		return j, fmt.Errorf("task journal %s unreadable (%v); starting empty", path, err)
	}
	if torn {
		j.rewrite = true
		return j, fmt.Errorf("task journal %s: dropped a torn last record (the agent stopped while writing it, before acting on it)", path)
	}
	return j, nil
}

// replay applies the log's records in order, as start and finish did
// (including their pruning, so the same entries survive, compacted or not;
// the exception: with more than the bound started at once, a compacted
// log may lose a finished verdict on replay, and that task is redone).
// torn reports a bad last record, which is ignored: the agent had not
// acted on it (a task redone is the cost if it was whole but damaged). A
// bad record before the last is an error: the file was damaged, not
// interrupted.
func (j *journal) replay(b []byte) (torn bool, err error) {
	lastBad := false
	torn, err = eachRecord(b, func(payload []byte) error {
		e, err := decodeEntry(payload)
		if err != nil {
			return err
		}
		j.records++
		if i := slices.IndexFunc(j.entries, func(x *journalEntry) bool { return x.ID == e.ID }); i >= 0 {
			j.entries[i] = e
		} else {
			j.entries = append(j.entries, e)
		}
		j.prune(e)
		return nil
	}, func(n int, _ []byte, err error, last bool) error {
		if last {
			lastBad = true
			return nil
		}
		return fmt.Errorf("record %d: %w", n, err)
	})
	return torn || lastBad, err
}

// loadLegacy reads an older agent's whole-array journal, if there is one,
// into j; the first save writes it as a log and removes the old file.
func (j *journal) loadLegacy(path string) (warning error) {
	b, err := readBoundedFile(path, maxJournalBytes)
	if err == nil && b == nil {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &j.entries)
	}
	if err != nil {
		j.entries = nil
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		_ = os.Rename(path, aside)
		return fmt.Errorf("task journal %s (the old format) unreadable (%v); kept as %s, starting empty", path, err, aside)
	}
	j.prune(nil)
	if err := j.compact(); err != nil {
		return fmt.Errorf("task journal: converting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("task journal: converted %s but cannot remove it: %w", path, err)
	}
	return nil
}

// get returns a copy of the entry for id.
func (j *journal) get(id string) (journalEntry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if e := j.find(id); e != nil {
		return *e, true
	}
	return journalEntry{}, false
}

// start records that id is about to run (again).
func (j *journal) start(id string, kind model.TaskKind) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := j.find(id)
	if e == nil {
		e = &journalEntry{ID: id, Kind: kind}
		j.entries = append(j.entries, e)
	}
	e.State, e.Runs, e.Started, e.Finished, e.Result = stateStarted, e.Runs+1, time.Now(), time.Time{}, nil
	e.enc = nil
	j.prune(e)
	return j.save(e)
}

// finish records id's verdict.
func (j *journal) finish(id string, r *savedResult) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	e := j.find(id)
	if e == nil {
		return fmt.Errorf("task journal: finish %s: not started", id)
	}
	e.State, e.Finished, e.Result = stateDone, time.Now(), r
	e.enc = nil
	j.prune(e)
	return j.save(e)
}

func (j *journal) find(id string) *journalEntry {
	for _, e := range j.entries {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// prune drops the oldest done entries beyond j.max, except keep (the
// entry just changed). Started entries are kept: they are the ones a
// restart must redo. start and finish prune after their change, and
// replay after each record, so a reopened journal holds what the live one
// did.
func (j *journal) prune(keep *journalEntry) {
	for excess := len(j.entries) - j.max; excess > 0; excess-- {
		i := slices.IndexFunc(j.entries, func(e *journalEntry) bool { return e.State == stateDone && e != keep })
		if i < 0 {
			return
		}
		j.entries = slices.Delete(j.entries, i, i+1)
	}
}

// save records e: one record appended to the log, or the whole journal
// written anew when it is due for compaction (see journal).
func (j *journal) save(e *journalEntry) error {
	if j.rewrite || j.records >= compactFactor*max(j.max, len(j.entries)) {
		return j.compact()
	}
	enc, err := e.encode()
	if err != nil {
		return err
	}
	if err := j.append(enc); err != nil {
		return fmt.Errorf("task journal: %w", err)
	}
	return nil
}

// compact replaces the log with one record per entry, atomically.
func (j *journal) compact() error {
	var b []byte
	for _, e := range j.entries {
		enc, err := e.encode()
		if err != nil {
			return err
		}
		b = appendRecord(b, enc)
	}
	if err := j.replace(b, len(j.entries)); err != nil {
		return fmt.Errorf("task journal: %w", err)
	}
	return nil
}

// close releases the log's file; later saves fail (errJournalClosed).
func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.shut()
}

// encode returns the entry's JSON, cached until the entry changes: a
// compaction re-encodes only what changed since the last.
func (e *journalEntry) encode() ([]byte, error) {
	if e.enc == nil {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		e.enc = b
	}
	return e.enc, nil
}
