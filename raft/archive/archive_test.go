package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// batch is expiry seq with jobs first..first+n-1, ending a minute apart,
// and one ledger entry per job on node "node00<id%2>".
func batch(seq uint64, first uint64, n int) *fsm.Expired {
	e := &fsm.Expired{Seq: seq, Before: t0.Add(time.Duration(first+uint64(n)) * time.Minute)}
	for id := first; id < first+uint64(n); id++ {
		end := t0.Add(time.Duration(id) * time.Minute)
		code := 0
		e.Jobs = append(e.Jobs, &model.Job{ID: id, Name: fmt.Sprint("job", id), Tenant: "alice", NumNodes: 1, State: model.JobCompleted,
			Script: "#!/bin/sh\necho hi\n", Nodes: []string{fmt.Sprint("node00", id%2)}, SubmitTime: end.Add(-time.Hour), EndTime: end, ExitCode: &code})
		e.Ledger = append(e.Ledger, fsm.NodeLedgerEntry{Node: fmt.Sprint("node00", id%2),
			Entry: model.LedgerEntry{Time: end.Add(time.Second), Step: "cleaned", Actor: "ibexd", OK: true, Evidence: fmt.Sprint("after ", id), JobID: id}})
	}
	return e
}

func open(t *testing.T, dir string) *Archive {
	t.Helper()
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func mustAppend(t *testing.T, a *Archive, e *fsm.Expired) {
	t.Helper()
	if err := a.Append(e); err != nil {
		t.Fatal(err)
	}
}

func TestQueries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	a := open(t, dir)
	mustAppend(t, a, batch(1, 1, 10))
	mustAppend(t, a, batch(2, 11, 10))

	j, err := a.Job(7)
	if err != nil || j.ID != 7 || j.Name != "job7" || j.Script == "" || *j.ExitCode != 0 || !j.EndTime.Equal(t0.Add(7*time.Minute)) {
		t.Fatalf("job 7: %+v %v", j, err)
	}
	if _, err := a.Job(99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("job 99: %v", err)
	}

	// Jobs that ended in [5m, 15m), pages of 4.
	var got []uint64
	var cur Cursor
	pages := 0
	for {
		js, next, err := a.Jobs(t0.Add(5*time.Minute), t0.Add(15*time.Minute), cur, 4)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, j := range js {
			got = append(got, j.ID)
		}
		if next == (Cursor{}) {
			break
		}
		cur = next
	}
	if fmt.Sprint(got) != "[5 6 7 8 9 10 11 12 13 14]" || pages != 3 {
		t.Fatalf("window listing %v in %d pages", got, pages)
	}
	if js, next, _ := a.Jobs(time.Time{}, time.Time{}, Cursor{}, 0); len(js) != 20 || next != (Cursor{}) {
		t.Fatalf("open window: %d jobs, cursor %+v", len(js), next)
	}

	// node001 holds the odd jobs' entries: 10 of them, paged by 3.
	es, total, err := a.NodeLedger("node001", 3, 3)
	if err != nil || total != 10 || len(es) != 3 || es[0].JobID != 7 || es[2].JobID != 11 {
		t.Fatalf("ledger page: %+v total %d %v", es, total, err)
	}
	if es, total, _ := a.NodeLedger("node001", 9, 5); len(es) != 1 || total != 10 {
		t.Fatalf("last page: %d of %d", len(es), total)
	}
	if es, total, _ := a.NodeLedger("nodeX", 0, 0); len(es) != 0 || total != 0 {
		t.Fatal("unknown node has entries")
	}

	// Modes: the directory and the file are the server's alone.
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %o", st.Mode().Perm())
	}
	if st, _ := os.Stat(filepath.Join(dir, fileName)); st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %o", st.Mode().Perm())
	}
}

// TestReplayIsIdempotent: raft re-applies the entries after its last
// snapshot on restart, so batches arrive again, before and after a reopen.
func TestReplayIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir)
	mustAppend(t, a, batch(1, 1, 5))
	mustAppend(t, a, batch(2, 6, 5))
	mustAppend(t, a, batch(1, 1, 5))
	mustAppend(t, a, &fsm.Expired{}) // an expiry that removed nothing
	before := a.Stats()
	a.Close()

	a = open(t, dir)
	if a.Stats() != before || before.Jobs != 10 || before.LedgerEntries != 10 || before.LastSeq != 2 {
		t.Fatalf("stats after reopen %+v, before %+v", a.Stats(), before)
	}
	mustAppend(t, a, batch(1, 1, 5))
	mustAppend(t, a, batch(2, 6, 5))
	if a.Stats() != before {
		t.Fatalf("replay after reopen wrote: %+v", a.Stats())
	}
	if _, total, _ := a.NodeLedger("node000", 0, 0); total != 5 {
		t.Fatalf("node000 has %d entries", total)
	}
	mustAppend(t, a, batch(3, 11, 1))
	if s := a.Stats(); s.Jobs != 11 || s.LastSeq != 3 || len(a.Gaps()) != 0 {
		t.Fatalf("after batch 3: %+v gaps %v", s, a.Gaps())
	}
}

// TestTornTailReopen: a crash during an append leaves part of the batch;
// reopening drops the whole batch, and raft's re-apply writes it again.
func TestTornTailReopen(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string, batchStart int64)
	}{
		{"cut in the commit frame", func(t *testing.T, path string, _ int64) {
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()-3)
		}},
		{"cut after a job frame", func(t *testing.T, path string, start int64) {
			os.Truncate(path, start+200)
		}},
		{"page of the batch never written", func(t *testing.T, path string, start int64) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			f.WriteAt(make([]byte, 64), start+100) // zeros inside the first job frame
		}},
		{"garbage header", func(t *testing.T, path string, start int64) {
			os.Truncate(path, start)
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			defer f.Close()
			f.Write([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a := open(t, dir)
			mustAppend(t, a, batch(1, 1, 5))
			start := a.Stats().Bytes
			mustAppend(t, a, batch(2, 6, 5))
			a.Close()
			tc.tear(t, filepath.Join(dir, fileName), start)

			a = open(t, dir)
			s := a.Stats()
			if s.Jobs != 5 || s.LedgerEntries != 5 || s.LastSeq != 1 || s.Bytes != start || s.TornBytes == 0 {
				t.Fatalf("after reopen: %+v (want batch 1 only, ending at %d)", s, start)
			}
			if _, err := a.Job(6); !errors.Is(err, ErrNotFound) {
				t.Fatalf("job of the torn batch: %v", err)
			}
			if st, _ := os.Stat(filepath.Join(dir, fileName)); st.Size() != start {
				t.Fatalf("file not truncated: %d bytes", st.Size())
			}
			mustAppend(t, a, batch(2, 6, 5)) // raft's re-apply
			if j, err := a.Job(8); err != nil || j.ID != 8 {
				t.Fatalf("job 8 after the re-apply: %v", err)
			}
			if len(a.Gaps()) != 0 {
				t.Fatalf("a torn tail is not a gap: %v", a.Gaps())
			}
			a.Close()
			a = open(t, dir)
			if s := a.Stats(); s.Jobs != 10 || s.LastSeq != 2 || s.TornBytes != 0 {
				t.Fatalf("second reopen %+v", s)
			}
		})
	}
}

func TestNotAnArchive(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, fileName), []byte("something else entirely"), 0o600)
	if _, err := Open(dir); err == nil {
		t.Fatal("opened a foreign file")
	}
	// A file torn before its magic was durable starts over.
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, fileName), []byte("IBE"), 0o600)
	a := open(t, dir)
	mustAppend(t, a, batch(1, 1, 1))
}

// TestGaps: a state restored from a snapshot that holds expiries this
// archive never stored, or a batch that skips sequence numbers, is a gap,
// and the gap survives a reopen.
func TestGaps(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir)
	mustAppend(t, a, batch(1, 1, 2))
	if err := a.Restored(fsm.Expiry{Seq: 1}); err != nil || len(a.Gaps()) != 0 {
		t.Fatalf("restart from a snapshot the archive covers: %v %v", err, a.Gaps())
	}
	if err := a.Restored(fsm.Expiry{Seq: 4, Before: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, a, batch(4, 3, 2)) // replay of a batch the snapshot held
	mustAppend(t, a, batch(5, 5, 2))
	mustAppend(t, a, batch(7, 9, 2)) // 6 was lost (e.g. a failed write)
	want := fmt.Sprint([]Gap{{From: 2, To: 4, Before: t0.Add(time.Hour)}, {From: 6, To: 6, Before: batch(7, 9, 2).Before}})
	if got := fmt.Sprint(a.Gaps()); got != want {
		t.Fatalf("gaps %s, want %s", got, want)
	}
	a.Close()
	a = open(t, dir)
	if got := fmt.Sprint(a.Gaps()); got != want || a.Stats().LastSeq != 7 || a.Stats().Jobs != 6 {
		t.Fatalf("after reopen: gaps %s, %+v", got, a.Stats())
	}
}

// TestReaderWaitsForExpiryInFlight: between the FSM removing a record and
// the archive storing it, a reader that missed it in the live state waits.
func TestReaderWaitsForExpiryInFlight(t *testing.T) {
	a := open(t, t.TempDir())
	a.BeginExpiry()
	done := make(chan error, 1)
	go func() {
		_, err := a.Job(3)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("lookup did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := a.EndExpiry(batch(1, 1, 5)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("lookup after the expiry: %v", err)
	}
	a.BeginExpiry()
	if err := a.EndExpiry(nil); err != nil { // a failed or empty expiry
		t.Fatal(err)
	}
}
