package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

func mustJ(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// states is the journal's content as "id=state" in order, for comparing.
func states(j *journal) string {
	var b strings.Builder
	for _, e := range j.entries {
		fmt.Fprintf(&b, "%s=%s/%d ", e.ID, e.State, e.Runs)
	}
	return b.String()
}

// A crash while appending leaves part of a record at the end: it is
// dropped with a warning (the agent had not acted on it; one whole but for
// its newline is applied), the rest is read back, and the next save writes the file whole so that no fragment sits
// in the middle of the log.
func TestJournalDropsATornLastRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, warn := openJournal(path, 0)
	mustJ(t, warn)
	mustJ(t, j.start("a", model.TaskErase))
	mustJ(t, j.finish("a", &savedResult{OK: true, EvidenceJSON: `{"x":1}`}))
	mustJ(t, j.start("b", model.TaskFirmware))
	want := states(j)

	rec := appendRecord(nil, []byte(`{"id":"c","kind":"erase","state":"started","runs":1,"started":"2026-01-01T00:00:00Z"}`))
	for _, cut := range []int{1, 9, len(rec) / 2, len(rec) - 1} {
		whole, _ := os.ReadFile(path)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		mustJ(t, err)
		f.Write(rec[:cut])
		f.Close()

		back, warn := openJournal(path, 0)
		if warn == nil || !strings.Contains(warn.Error(), "torn") {
			t.Fatalf("cut at %d: warning %v, want a torn record dropped", cut, warn)
		}
		if cut == len(rec)-1 {
			want += "c=started/1 " // whole but for its newline: applied
		}
		if got := states(back); got != want {
			t.Fatalf("cut at %d: read back %q, want %q", cut, got, want)
		}
		mustJ(t, back.finish("b", &savedResult{OK: true}))
		mustJ(t, back.start("b", model.TaskFirmware)) // back to the state want describes
		again, warn := openJournal(path, 0)
		if warn != nil {
			t.Fatalf("cut at %d: after a save, reopening warns %v", cut, warn)
		}
		if got := states(again); got != states(back) {
			t.Fatalf("cut at %d: after a save, read back %q, want %q", cut, got, states(back))
		}
		if b, _ := os.ReadFile(path); bytes.Contains(b, rec[:cut]) && cut > 9 && cut < len(rec)-1 || !bytes.HasSuffix(b, []byte("\n")) {
			t.Fatalf("cut at %d: the fragment is still in the log:\n%s\n(was %d bytes)", cut, b, len(whole))
		}
		j = again
		want = states(j)
	}
}

// A bad record with good ones after it is damage, not an interrupted
// append: the journal is moved aside and the agent starts empty.
func TestJournalWithADamagedRecordIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, journalFile)
	j, _ := openJournal(path, 0)
	mustJ(t, j.start("a", model.TaskErase))
	mustJ(t, j.finish("a", &savedResult{OK: true}))
	mustJ(t, j.start("b", model.TaskErase))
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(`"a"`))
	b[i+1] = 'z' // same length, checksum no longer matches
	mustJ(t, os.WriteFile(path, b, 0o600))

	back, warn := openJournal(path, 0)
	if warn == nil || !strings.Contains(warn.Error(), "checksum") || !strings.Contains(warn.Error(), "moved to") {
		t.Fatalf("warning %v, want a checksum error and the file moved aside", warn)
	}
	if len(back.entries) != 0 {
		t.Fatalf("started with %d entries from a damaged journal", len(back.entries))
	}
	mustJ(t, back.start("c", model.TaskErase))
	again, warn := openJournal(path, 0)
	if warn != nil || states(again) != "c=started/1 " {
		t.Fatalf("after starting over: %q, %v", states(again), warn)
	}
}

// The log is compacted as it grows: it never holds more than
// compactFactor records per entry bound, and what it reads back is what
// the journal held, whenever the agent restarts.
func TestJournalCompactsAndReadsBackTheLatest(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	const bound = 4
	j, _ := openJournal(path, bound)
	mustJ(t, j.start("long", model.TaskImage))
	for i := range 60 {
		id := fmt.Sprint("t", i)
		mustJ(t, j.start(id, model.TaskErase))
		if i%7 == 3 {
			mustJ(t, j.start(id, model.TaskErase)) // resent and run again
		}
		mustJ(t, j.finish(id, &savedResult{OK: i%5 != 0, EvidenceJSON: fmt.Sprintf(`{"i":%d}`, i)}))
		b, _ := os.ReadFile(path)
		if n := bytes.Count(b, []byte("\n")); n > compactFactor*(bound+1) {
			t.Fatalf("after task %d the log holds %d records for %d entries", i, n, len(j.entries))
		}
		back, warn := openJournal(path, bound)
		if warn != nil {
			t.Fatal(warn)
		}
		if got, want := states(back), states(j); got != want {
			t.Fatalf("after task %d read back %q, want %q", i, got, want)
		}
		for k, e := range back.entries {
			if w := j.entries[k]; (e.Result == nil) != (w.Result == nil) || e.Result != nil && *e.Result != *w.Result {
				t.Fatalf("after task %d entry %s result %+v, want %+v", i, e.ID, e.Result, w.Result)
			}
		}
	}
	if e, ok := j.get("long"); !ok || e.State != stateStarted {
		t.Fatal("the unfinished entry was pruned")
	}
}

// An older agent's journal (one JSON array, tasks.json) becomes the log's
// content at the first start of this one, and the old file goes.
func TestJournalConvertsTheOldFormat(t *testing.T) {
	dir := t.TempDir()
	old := []*journalEntry{
		{ID: "a", Kind: model.TaskErase, State: stateDone, Runs: 1, Result: &savedResult{OK: true, EvidenceJSON: `{"b":1}`}},
		{ID: "b", Kind: model.TaskImage, State: stateStarted, Runs: 2},
	}
	b, _ := json.Marshal(old)
	mustJ(t, os.WriteFile(filepath.Join(dir, legacyJournalFile), b, 0o600))

	j, warn := openJournal(filepath.Join(dir, journalFile), 0)
	if warn != nil {
		t.Fatal(warn)
	}
	if got := states(j); got != "a=done/1 b=started/2 " {
		t.Fatalf("converted %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyJournalFile)); !os.IsNotExist(err) {
		t.Fatalf("the old journal is still there: %v", err)
	}
	back, warn := openJournal(filepath.Join(dir, journalFile), 0)
	if warn != nil || states(back) != states(j) || back.entries[0].Result.EvidenceJSON != `{"b":1}` {
		t.Fatalf("reopened %q (%v)", states(back), warn)
	}
}

// A failed append may leave part of a record in the file: the journal
// reports the error, and its next save writes the file whole, so the log
// reads back cleanly with every change.
func TestJournalRewritesAfterAFailedAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, _ := openJournal(path, 0)
	mustJ(t, j.start("a", model.TaskErase))
	mustJ(t, j.start("b", model.TaskErase))
	// The append handle now refuses writes, and a fragment sits at the end.
	ro, err := os.Open(path)
	mustJ(t, err)
	j.closeFile()
	j.f = ro
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("0badc0de {\"id\":")
	f.Close()
	if err := j.finish("a", &savedResult{OK: true}); err == nil {
		t.Fatal("an append to a read-only handle succeeded")
	}
	mustJ(t, j.finish("b", &savedResult{OK: true}))
	back, warn := openJournal(path, 0)
	if warn != nil {
		t.Fatal(warn)
	}
	if got := states(back); got != "a=done/1 b=done/1 " {
		t.Fatalf("read back %q", got)
	}
}

// A reopened journal holds what the live one did when finishing tasks
// compacts it and pruned entries, with more tasks started than the bound.
func TestJournalReplayMatchesLiveAfterFinishCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, _ := openJournal(path, 2)
	for _, id := range []string{"a", "b", "c"} {
		mustJ(t, j.start(id, model.TaskErase))
	}
	j.records = compactFactor * 3 // the next save compacts
	mustJ(t, j.finish("a", &savedResult{OK: true}))
	if _, ok := j.get("a"); !ok {
		t.Fatal("the verdict just recorded was pruned at once")
	}
	mustJ(t, j.finish("b", &savedResult{OK: true}))
	back, warn := openJournal(path, 2)
	if warn != nil || states(back) != states(j) {
		t.Fatalf("live %q, read back %q (%v)", states(j), states(back), warn)
	}
	if _, ok := j.get("b"); !ok {
		t.Fatal("the verdict just recorded was pruned")
	}
}

// A whole last line that fails its checksum is dropped like a torn one
// (the task is redone), not taken for damage of the whole journal.
func TestJournalDamagedLastLineIsDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, _ := openJournal(path, 0)
	mustJ(t, j.start("a", model.TaskErase))
	mustJ(t, j.finish("a", &savedResult{OK: true}))
	b, _ := os.ReadFile(path)
	b[len(b)-3] ^= 0x20
	os.WriteFile(path, b, 0o600)
	back, warn := openJournal(path, 0)
	if warn == nil || !strings.Contains(warn.Error(), "torn") || states(back) != "a=started/1 " {
		t.Fatalf("read back %q, warning %v", states(back), warn)
	}
}

// After the agent stopped, a late save fails rather than write a log a
// restarted agent now owns.
func TestJournalRefusesSavesAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, _ := openJournal(path, 0)
	mustJ(t, j.start("a", model.TaskErase))
	j.close()
	if err := j.finish("a", &savedResult{OK: true}); err == nil {
		t.Fatal("a closed journal accepted a save")
	}
	if back, _ := openJournal(path, 0); states(back) != "a=started/1 " {
		t.Fatalf("read back %q", states(back))
	}
}

// FuzzJournalLog: whatever the file holds, opening it never panics, and
// what was read is what a reopening reads after the next saves.
func FuzzJournalLog(f *testing.F) {
	good := appendRecord(nil, []byte(`{"id":"a","kind":"erase","state":"started","runs":1,"started":"2026-01-01T00:00:00Z"}`))
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good[:20]...))
	f.Add(appendRecord(good, []byte(`{"id":"a","kind":"erase","state":"done","runs":1,"started":"2026-01-01T00:00:00Z","result":{"ok":true}}`)))
	f.Add([]byte("00000000 {}\n"))
	f.Add([]byte("[]"))
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), journalFile)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		j, _ := openJournal(path, 8)
		for _, e := range j.entries {
			if e.ID == "" || e.State != stateStarted && e.State != stateDone {
				t.Fatalf("entry read from a bad record: %+v", e)
			}
		}
		if err := j.start("fuzz-new", model.TaskErase); err != nil {
			t.Fatal(err)
		}
		if len(j.entries) > 0 {
			if err := j.finish(j.entries[0].ID, &savedResult{OK: true}); err != nil {
				t.Fatal(err)
			}
		}
		back, warn := openJournal(path, 8)
		if warn != nil {
			t.Fatalf("after a save: %v", warn)
		}
		if states(back) != states(j) {
			t.Fatalf("read back %q, want %q", states(back), states(j))
		}
		if err := back.finish("fuzz-new", &savedResult{OK: true}); err != nil {
			t.Fatal(err)
		}
		if again, warn := openJournal(path, 8); warn != nil || states(again) != states(back) {
			t.Fatalf("second reopen %q (%v), want %q", states(again), warn, states(back))
		}
	})
}
