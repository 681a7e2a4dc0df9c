package agent

import (
	"encoding/json"
	"fmt"
	"os"
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
// change is written (atomically, fsynced) before the agent acts on it, so
// "done" on disk always means the verdict survives a crash, and a crash
// before "done" always means a redo.
type journal struct {
	mu      sync.Mutex
	path    string
	max     int             // maxJournalEntries; smaller in tests
	nosync  bool            // Agent.JournalNoSync
	entries []*journalEntry // oldest first
}

// openJournal loads path. An unreadable journal is moved aside rather than
// fatal: losing it only means a finished task may run again, which every
// task kind tolerates, whereas refusing to start would strand the node.
func openJournal(path string) (j *journal, warning error) {
	j = &journal{path: path, max: maxJournalEntries}
	b, err := readFileIfExists(path)
	if err == nil && b != nil {
		err = json.Unmarshal(b, &j.entries)
	}
	if err != nil {
		j.entries = nil
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr == nil {
			warning = fmt.Errorf("task journal %s unreadable (%v); moved to %s and starting empty", path, err, aside)
		} else {
			warning = fmt.Errorf("task journal %s unreadable (%v); starting empty", path, err)
		}
	}
	return j, warning
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
	j.prune()
	return j.save()
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
	return j.save()
}

func (j *journal) find(id string) *journalEntry {
	for _, e := range j.entries {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// prune drops the oldest done entries beyond j.max. Started
// entries are kept: they are the ones a restart must redo.
func (j *journal) prune() {
	for excess := len(j.entries) - j.max; excess > 0; excess-- {
		i := slices.IndexFunc(j.entries, func(e *journalEntry) bool { return e.State == stateDone })
		if i < 0 {
			return
		}
		j.entries = slices.Delete(j.entries, i, i+1)
	}
}

// save writes the whole journal, a JSON array of the entries, re-encoding
// only the entries that changed since the last save. Why: the journal is
// written twice per task, and re-encoding up to maxJournalEntries entries
// of several KB of evidence each time (indented, as it was) was a third
// of ibexd's CPU with 64 simulated agents cleaning between tiny jobs
// (bench/agentpath's CPU profile); what is written is the same.
func (j *journal) save() error {
	size := 2
	for _, e := range j.entries {
		if e.enc == nil {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			e.enc = b
		}
		size += len(e.enc) + 2
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, e := range j.entries {
		if i > 0 {
			b = append(b, ',', '\n')
		}
		b = append(b, e.enc...)
	}
	b = append(b, ']', '\n')
	if err := writeFileAtomicSync(j.path, b, !j.nosync); err != nil {
		return fmt.Errorf("task journal: %w", err)
	}
	return nil
}
