package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// Without fsync (simulated nodes) the journals are still written through
// and replaced atomically: a reopened journal (the agent restarted) has
// every record, and no temporary file is left behind.
func TestJournalsWithoutSyncStillPersistAndReplaceAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, journalFile)
	j, warn := openJournal(path, 0)
	if warn != nil {
		t.Fatal(warn)
	}
	j.nosync = true
	if err := j.start("t1", model.TaskErase); err != nil {
		t.Fatal(err)
	}
	if err := j.finish("t1", &savedResult{OK: true, EvidenceJSON: `{"x":1}`}); err != nil {
		t.Fatal(err)
	}
	again, warn := openJournal(path, 0)
	if warn != nil {
		t.Fatal(warn)
	}
	e, ok := again.get("t1")
	if !ok || e.State != stateDone || e.Result == nil || !e.Result.OK || e.Result.EvidenceJSON != `{"x":1}` {
		t.Fatalf("reopened journal has %+v (found %v), want t1 done with its result", e, ok)
	}

	jobs, _, _, err := openJobJournal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	rec := &jobRecord{JobID: 9, TaskID: "job/9", State: jobRunning}
	if err := jobs.save(rec); err != nil {
		t.Fatal(err)
	}
	rec.State = jobExited
	if err := jobs.save(rec); err != nil {
		t.Fatal(err)
	}
	_, recs, warns, err := openJobJournal(dir, true)
	if err != nil || len(warns) > 0 {
		t.Fatal(err, warns)
	}
	if r := recs[9]; r == nil || r.State != jobExited {
		t.Fatalf("reloaded job record %+v, want job 9 exited", r)
	}
	names, _ := os.ReadDir(dir)
	for _, n := range names {
		if n.Name()[0] == '.' {
			t.Fatalf("temporary file %s left in %s", n.Name(), dir)
		}
	}
}

// JournalEntries bounds the task journal the agent opens, and the
// journal-without-sync setting reaches it; unset, the journal keeps
// maxJournalEntries and syncs.
func TestAgentJournalSettingsReachTheJournal(t *testing.T) {
	env := newTestEnv(t)
	a := env.agent(t, []string{"127.0.0.1:1"}, "x", "sha256:"+strings.Repeat("0", 64))
	a.JournalEntries, a.JournalNoSync = 3, true
	if err := a.init(); err != nil {
		t.Fatal(err)
	}
	if a.journal.max != 3 || !a.journal.nosync {
		t.Fatalf("journal bound %d, nosync %v; want 3 and true", a.journal.max, a.journal.nosync)
	}
	for i := range 5 {
		id := fmt.Sprintf("t%d", i)
		if err := a.journal.start(id, model.TaskErase); err != nil {
			t.Fatal(err)
		}
		if err := a.journal.finish(id, &savedResult{OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := a.journal.get("t0"); ok {
		t.Fatal("the oldest of 5 finished tasks is still journalled with a bound of 3")
	}
	if _, ok := a.journal.get("t4"); !ok {
		t.Fatal("the newest task is not journalled")
	}

	b := newTestEnv(t).agent(t, []string{"127.0.0.1:1"}, "x", "sha256:"+strings.Repeat("0", 64))
	if err := b.init(); err != nil {
		t.Fatal(err)
	}
	if b.journal.max != maxJournalEntries || b.journal.nosync {
		t.Fatalf("default journal bound %d, nosync %v; want %d and false", b.journal.max, b.journal.nosync, maxJournalEntries)
	}
}
