package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openJobsT(t *testing.T, dir string) (*jobJournal, map[uint64]*jobRecord, []error) {
	t.Helper()
	j, recs, warns, err := openJobJournal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return j, recs, warns
}

func jobStates(recs map[uint64]*jobRecord) string {
	var b strings.Builder
	for id := range uint64(64) {
		if r := recs[id]; r != nil {
			fmt.Fprintf(&b, "%d=%s ", id, r.State)
		}
	}
	return b.String()
}

// Every change and every removal reads back after a restart, through
// compactions, and the log stays within compactFactor records per job
// plus its slack.
func TestJobJournalReadsBackThroughCompactions(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	want := map[uint64]*jobRecord{}
	for i := range 400 {
		id := uint64(i%50 + 1)
		switch i % 7 {
		case 6:
			if err := j.remove(id); err != nil {
				t.Fatal(err)
			}
			delete(want, id)
		default:
			rec := &jobRecord{JobID: id, TaskID: fmt.Sprint("job/", id), State: []jobState{jobAccepted, jobStarting, jobRunning, jobExited, jobLost, jobRefused}[i%6], Updated: time.Now()}
			if err := j.save(rec); err != nil {
				t.Fatal(err)
			}
			want[id] = rec
		}
		if i%37 == 0 || i == 399 {
			_, got, warns := openJobsT(t, dir)
			if len(warns) > 0 {
				t.Fatal(warns)
			}
			if jobStates(got) != jobStates(want) {
				t.Fatalf("after change %d read back %q, want %q", i, jobStates(got), jobStates(want))
			}
		}
		b, _ := os.ReadFile(filepath.Join(dir, jobJournalFile))
		if n := bytes.Count(b, []byte("\n")); n > compactFactor*len(want)+256+1 {
			t.Fatalf("after change %d the log holds %d records for %d jobs", i, n, len(want))
		}
	}
}

// A crash mid-append leaves part of a record: it is dropped (the agent
// had not acted on it) and the log is rewritten whole at once.
func TestJobJournalDropsATornLastRecord(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	j.save(&jobRecord{JobID: 1, State: jobRunning, Updated: time.Now()})
	j.save(&jobRecord{JobID: 2, State: jobExited, Updated: time.Now()})
	path := filepath.Join(dir, jobJournalFile)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(string(appendRecord(nil, []byte(`3 {"job_id":3,"state":"accepted"}`)))[:20])
	f.Close()
	_, recs, warns := openJobsT(t, dir)
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), "torn") {
		t.Fatalf("warnings %v, want one torn record", warns)
	}
	if jobStates(recs) != "1=running 2=exited " {
		t.Fatalf("read back %q", jobStates(recs))
	}
	if _, _, warns := openJobsT(t, dir); len(warns) != 0 {
		t.Fatalf("the torn record is still there: %v", warns)
	}
}

// A damaged record is the job's, ended as lost: never started again.
// The damaged log is kept aside, and the rest of the log still counts.
func TestJobJournalDamagedRecordMeansTheJobIsLost(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	j.save(&jobRecord{JobID: 7, State: jobAccepted, Updated: time.Now()})
	j.save(&jobRecord{JobID: 8, State: jobRunning, Updated: time.Now()})
	path := filepath.Join(dir, jobJournalFile)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(`"accepted"`))
	b[i+1] = 'X'
	os.WriteFile(path, b, 0o600)

	_, recs, warns := openJobsT(t, dir)
	if r := recs[7]; r == nil || r.State != jobLost || !strings.Contains(r.Reason, "damaged") {
		t.Fatalf("job 7 after damage: %+v", r)
	}
	if r := recs[8]; r == nil || r.State != jobRunning {
		t.Fatalf("job 8, after the damaged record: %+v", r)
	}
	if len(warns) == 0 || !strings.Contains(fmt.Sprint(warns), "job 7 is reported lost") {
		t.Fatalf("warnings %v", warns)
	}
	if asides, _ := filepath.Glob(path + ".corrupt-*"); len(asides) != 1 {
		t.Fatalf("damaged log kept as %v", asides)
	}
	_, recs, warns = openJobsT(t, dir)
	if len(warns) != 0 || recs[7].State != jobLost {
		t.Fatalf("after the rewrite: %v, job 7 %+v", warns, recs[7])
	}
}

// An older agent's journal (a file per job) is converted at start, its
// damaged files included (as lost jobs), and its files removed.
func TestJobJournalConvertsTheOldDirectory(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, legacyJobJournalDir)
	os.Mkdir(old, 0o700)
	os.WriteFile(filepath.Join(old, "4.json"), []byte(`{"job_id":4,"state":"exited","exit_code":3}`), 0o600)
	os.WriteFile(filepath.Join(old, "5.json"), []byte(`{"job_id":5,"sta`), 0o600)
	_, recs, warns := openJobsT(t, dir)
	if recs[4] == nil || recs[4].State != jobExited || recs[4].ExitCode != 3 || recs[5] == nil || recs[5].State != jobLost {
		t.Fatalf("converted %q", jobStates(recs))
	}
	if len(warns) != 1 {
		t.Fatalf("warnings %v, want one for the damaged file", warns)
	}
	if _, err := os.Stat(filepath.Join(old, "4.json")); !os.IsNotExist(err) {
		t.Fatal("a converted file is still there")
	}
	if _, recs, warns := openJobsT(t, dir); len(warns) != 0 || jobStates(recs) != "4=exited 5=lost " {
		t.Fatalf("reopened: %q %v", jobStates(recs), warns)
	}
}

// FuzzJobJournal: whatever the log holds, opening it never panics and
// never yields a record whose id differs from its key; after opening,
// a save reads back.
func FuzzJobJournal(f *testing.F) {
	f.Add(appendRecord(nil, []byte(`1 {"job_id":1,"state":"running"}`)))
	f.Add(appendRecord(appendRecord(nil, []byte(`1 {"job_id":1,"state":"running"}`)), []byte(`1 -`)))
	f.Add([]byte("deadbeef 2 {\"job_id\":2}\nxx"))
	f.Add(appendRecord(nil, []byte(`3 {"job_id":4,"state":"running"}`)))
	f.Fuzz(func(t *testing.T, content []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, jobJournalFile), content, 0o600)
		j, recs, _, err := openJobJournal(dir, true)
		if err != nil {
			t.Fatal(err)
		}
		for id, r := range recs {
			if r.JobID != id || !r.State.valid() {
				t.Fatalf("record %d: %+v", id, r)
			}
		}
		if err := j.save(&jobRecord{JobID: 1 << 40, State: jobAccepted}); err != nil {
			t.Fatal(err)
		}
		_, back, warns, err := openJobJournal(dir, true)
		if err != nil || len(warns) > 0 || back[1<<40] == nil || len(back) != len(recs)+1-boolInt(recs[1<<40] != nil) {
			t.Fatalf("after a save: %v %v, %d records, had %d", err, warns, len(back), len(recs))
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
