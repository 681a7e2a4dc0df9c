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
	j.slack = 16
	want := map[uint64]*jobRecord{}
	compactions, lastRecords := 0, 0
	for i := range 400 {
		id := uint64(i%10 + 1)
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
		if n := bytes.Count(b, []byte("\n")); n > compactFactor*len(want)+j.slack+1 {
			t.Fatalf("after change %d the log holds %d records for %d jobs", i, n, len(want))
		}
		if j.records < lastRecords {
			compactions++
		}
		lastRecords = j.records
	}
	if compactions < 5 {
		t.Fatalf("%d compactions in 400 changes of 10 jobs; the test wants to read back through several", compactions)
	}
}

// A crash mid-append leaves part of a record: it is dropped (the agent
// had not acted on it) and the log is rewritten whole at once.
func TestJobJournalDropsATornLastRecord(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	mustJ(t, j.save(&jobRecord{JobID: 1, State: jobRunning, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 2, State: jobExited, Updated: time.Now()}))
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
	mustJ(t, j.save(&jobRecord{JobID: 7, State: jobAccepted, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 8, State: jobRunning, Updated: time.Now()}))
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
	if len(warns) == 0 || !strings.Contains(fmt.Sprint(warns), "of job 7, unreadable") {
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

// A damaged record that is the log's last whole line is damage, not a
// torn append: its job keeps a record (lost with none before it; starting,
// for the runner to settle, if it was running), and the damaged log is
// copied aside byte for byte before the log is rewritten.
func TestJobJournalDamagedLastLineKeepsTheJob(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	mustJ(t, j.save(&jobRecord{JobID: 1, State: jobRunning, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 2, State: jobRunning, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 2, State: jobExited, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 3, State: jobAccepted, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 1, State: jobRunning, ExitCode: 0, Reason: "x", Updated: time.Now()}))
	path := filepath.Join(dir, jobJournalFile)
	b, _ := os.ReadFile(path)
	// Damage job 3's only record and job 1's latest one (the last line).
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[3][12] ^= 0x20
	lines[4][len(lines[4])-3] ^= 0x20
	damaged := bytes.Join(lines, nil)
	os.WriteFile(path, damaged, 0o600)

	_, recs, warns := openJobsT(t, dir)
	if got := jobStates(recs); got != "1=starting 2=exited 3=lost " {
		t.Fatalf("read back %q, want job 1 starting (for adoption to ask the runner), 2 exited, 3 lost; warnings %v", got, warns)
	}
	asides, _ := filepath.Glob(path + ".corrupt-*")
	if len(asides) != 1 {
		t.Fatalf("damaged log kept as %v", asides)
	}
	if kept, _ := os.ReadFile(asides[0]); !bytes.Equal(kept, damaged) {
		t.Fatal("the copy kept aside is not the damaged log")
	}
	if _, recs, warns := openJobsT(t, dir); len(warns) != 0 || jobStates(recs) != "1=starting 2=exited 3=lost " {
		t.Fatalf("after the rewrite: %q %v", jobStates(recs), warns)
	}
}

// A damaged record whose job id cannot be read refuses every job up to the
// highest id the log names that the agent has no record of: that job may
// have been started. The floor survives compaction and restarts.
func TestJobJournalUnreadableIDRefusesJobsUpToTheLogsHighest(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	for _, id := range []uint64{4, 9, 6} {
		mustJ(t, j.save(&jobRecord{JobID: id, State: jobRunning, Updated: time.Now()}))
	}
	path := filepath.Join(dir, jobJournalFile)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(" 4 {"))
	b[i+1] = 'x' // job 4's id, and its checksum no longer matches
	os.WriteFile(path, b, 0o600)

	j, recs, warns := openJobsT(t, dir)
	if jobStates(recs) != "6=running 9=running " || len(warns) == 0 {
		t.Fatalf("read %q, warnings %v", jobStates(recs), warns)
	}
	for id, want := range map[uint64]bool{4: true, 5: true, 10: false} {
		if got := j.refuses(id) != ""; got != want {
			t.Fatalf("job %d refused: %v, want %v", id, got, want)
		}
	}
	j.slack = 0
	for range 20 { // compactions
		mustJ(t, j.save(&jobRecord{JobID: 6, State: jobRunning, Updated: time.Now()}))
	}
	again, _, warns := openJobsT(t, dir)
	if len(warns) != 0 || again.refuses(4) == "" || again.refuses(10) != "" {
		t.Fatalf("after compactions and a restart: floor %d, warnings %v", again.floor, warns)
	}
}

// After the agent stopped, a late write fails instead of replacing the
// log a restarted agent on the same directory now writes.
func TestJobJournalRefusesWritesAfterClose(t *testing.T) {
	dir := t.TempDir()
	old, _, _ := openJobsT(t, dir)
	mustJ(t, old.save(&jobRecord{JobID: 1, State: jobRunning, Updated: time.Now()}))
	old.close()
	cur, _, _ := openJobsT(t, dir)
	mustJ(t, cur.save(&jobRecord{JobID: 100, State: jobAccepted, Updated: time.Now()}))
	old.records = 1 << 20 // its next write would compact: rename its stale log over cur's
	if err := old.save(&jobRecord{JobID: 1, State: jobExited, Updated: time.Now()}); err == nil {
		t.Fatal("a closed journal accepted a write")
	}
	if err := old.remove(1); err == nil {
		t.Fatal("a closed journal accepted a removal")
	}
	if _, recs, _ := openJobsT(t, dir); recs[100] == nil || recs[1] == nil || recs[1].State != jobRunning {
		t.Fatalf("after a late write: %q", jobStates(recs))
	}
}

// A damaged digit can make a record name another job: the floor covers
// every id the log names, so the job the record really was of is refused
// too, not started again.
func TestJobJournalDamagedIDDigitStillRefusesTheRealJob(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	mustJ(t, j.save(&jobRecord{JobID: 4, State: jobRunning, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 9, State: jobRunning, Updated: time.Now()}))
	path := filepath.Join(dir, jobJournalFile)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(" 4 {"))
	b[i+1] = '5' // job 4's only record now says 5
	os.WriteFile(path, b, 0o600)
	j, recs, _ := openJobsT(t, dir)
	if recs[4] != nil || j.refuses(4) == "" || j.refuses(10) != "" {
		t.Fatalf("read %q, floor %d: job 4 must be refused, 10 not", jobStates(recs), j.floor)
	}
}

// A damaged floor record keeps its floor when its number reads.
func TestJobJournalDamagedFloorRecordKeepsTheFloor(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	j.floor = 100
	mustJ(t, j.compact())
	path := filepath.Join(dir, jobJournalFile)
	b, _ := os.ReadFile(path)
	b[0] ^= 0x01 // its checksum
	os.WriteFile(path, b, 0o600)
	j, _, warns := openJobsT(t, dir)
	if j.refuses(100) == "" || len(warns) == 0 {
		t.Fatalf("floor %d after its record was damaged (warnings %v)", j.floor, warns)
	}
}

// A last record whole but for its newline is applied, not dropped: the
// job it starts is known at the restart.
func TestJobJournalAppliesALastRecordMissingOnlyItsNewline(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	mustJ(t, j.save(&jobRecord{JobID: 1, State: jobAccepted, Updated: time.Now()}))
	path := filepath.Join(dir, jobJournalFile)
	rec := appendRecord(nil, []byte(`1 {"job_id":1,"state":"starting"}`))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(rec[:len(rec)-1])
	f.Close()
	_, recs, warns := openJobsT(t, dir)
	if jobStates(recs) != "1=starting " || len(warns) != 1 {
		t.Fatalf("read %q, warnings %v", jobStates(recs), warns)
	}
}

// An interactive allocation whose later records (its stop) are damaged is
// lost, never made anew by adoption as a starting one would be.
func TestJobJournalDamagedAllocationIsLost(t *testing.T) {
	dir := t.TempDir()
	j, _, _ := openJobsT(t, dir)
	mustJ(t, j.save(&jobRecord{JobID: 9, State: jobRunning, Allocation: true, Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 9, State: jobLost, Allocation: true, Stopped: "released", Updated: time.Now()}))
	mustJ(t, j.save(&jobRecord{JobID: 10, State: jobExited, Updated: time.Now()}))
	path := filepath.Join(dir, jobJournalFile)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(`"released"`))
	b[i+2] ^= 0x20
	os.WriteFile(path, b, 0o600)
	_, recs, _ := openJobsT(t, dir)
	if r := recs[9]; r == nil || r.State != jobLost {
		t.Fatalf("allocation 9 after damage: %+v", r)
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
