package walstore

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestEmptyStore(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	checkRange(t, s, 0, 0, 1)
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatalf("DeleteRange on empty log: %v", err)
	}
	if !s.IsMonotonic() {
		t.Fatal("store must report itself monotonic")
	}
}

func TestStoreAndGet(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"no cache", Options{CacheSize: -1}},
		{"tiny cache", Options{CacheSize: 3}},
		{"tiny segments", Options{SegmentSize: 256, CacheSize: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, c.opts)
			if err := s.StoreLog(entry(1, 1)); err != nil {
				t.Fatal(err)
			}
			appendRange(t, s, 2, 100, 1, 7)
			checkRange(t, s, 1, 100, 1)
			s.Close()
			checkRange(t, openT(t, dir, c.opts), 1, 100, 1)
		})
	}
}

func TestStoreLogsStartsAnywhereWhenEmpty(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	appendRange(t, s, 5000, 5010, 2, 4)
	checkRange(t, s, 5000, 5010, 2)
	s.Close()
	checkRange(t, openT(t, dir, Options{}), 5000, 5010, 2)
}

func TestStoreLogsContiguity(t *testing.T) {
	cases := []struct {
		name  string
		batch []*raft.Log
		ok    bool
	}{
		{"next index", entries(11, 12, 1), true},
		{"empty batch", nil, true},
		{"gap after last", entries(12, 13, 1), false},
		{"overwrite last", entries(10, 11, 1), false},
		{"rewind", entries(1, 3, 1), false},
		{"gap inside batch", []*raft.Log{entry(11, 1), entry(13, 1)}, false},
		{"duplicate inside batch", []*raft.Log{entry(11, 1), entry(11, 1)}, false},
		{"descending batch", []*raft.Log{entry(12, 1), entry(11, 1)}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openT(t, t.TempDir(), Options{})
			appendRange(t, s, 1, 10, 1, 10)
			err := s.StoreLogs(c.batch)
			if c.ok != (err == nil) {
				t.Fatalf("StoreLogs: err = %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrNotContiguous) {
					t.Fatalf("error %v does not wrap ErrNotContiguous", err)
				}
				// A rejected batch changes nothing and does not poison
				// the store.
				checkRange(t, s, 1, 10, 1)
				appendRange(t, s, 11, 12, 1, 2)
				checkRange(t, s, 1, 12, 1)
			}
		})
	}
	t.Run("index zero", func(t *testing.T) {
		s := openT(t, t.TempDir(), Options{})
		if err := s.StoreLog(&raft.Log{Index: 0}); !errors.Is(err, ErrNotContiguous) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestOneSyncPerBatch pins the reason this package exists: an append is one
// fdatasync, plus one directory fsync only when it opens a segment.
func TestOneSyncPerBatch(t *testing.T) {
	s := openT(t, t.TempDir(), Options{SegmentSize: 4096})
	type counts struct{ data, dir, file int64 }
	snap := func() counts {
		return counts{s.syncs.data.Load(), s.syncs.dir.Load(), s.syncs.file.Load()}
	}
	store := func(from, to uint64) counts {
		before := snap()
		appendRange(t, s, from, to, 1, int(to-from+1))
		after := snap()
		return counts{after.data - before.data, after.dir - before.dir, after.file - before.file}
	}
	if got := store(1, 64); got != (counts{1, 1, 0}) {
		t.Fatalf("first batch (new segment): %+v syncs, want 1 fdatasync + 1 dir fsync", got)
	}
	var next uint64 = 65
	rolled := 0
	for range 30 {
		nsegs := len(s.segs)
		got := store(next, next+4)
		next += 5
		want := counts{1, 0, 0}
		if len(s.segs) != nsegs {
			want.dir = 1
			rolled++
		}
		if got != want {
			t.Fatalf("batch at %d: %+v syncs, want %+v", next-5, got, want)
		}
	}
	if rolled == 0 {
		t.Fatal("no batch rolled over to a new segment")
	}
}

func TestSegmentRollover(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1024, CacheSize: -1}
	s := openT(t, dir, opts)
	appendRange(t, s, 1, 400, 1, 9)
	files := segmentFiles(t, dir)
	if len(files) < 10 {
		t.Fatalf("only %d segments for ~40 KiB at 1 KiB each", len(files))
	}
	if files[0] != "00000000000000000001.wal" {
		t.Fatalf("first segment is %s", files[0])
	}
	// Each file is named by its first record and batches are never split.
	for i, seg := range s.segs {
		if want := segmentName(seg.base); files[i] != want {
			t.Fatalf("segment %d is %s, want %s", i, files[i], want)
		}
		if (seg.base-1)%9 != 0 {
			t.Fatalf("segment starts at %d, inside a batch", seg.base)
		}
		if i < len(s.segs)-1 && seg.size < opts.SegmentSize {
			t.Fatalf("segment %s sealed at %d bytes, under the limit", files[i], seg.size)
		}
	}
	checkRange(t, s, 1, 400, 1)
	s.Close()
	checkRange(t, openT(t, dir, opts), 1, 400, 1)
}

func TestConcurrentAccess(t *testing.T) {
	s := openT(t, t.TempDir(), Options{SegmentSize: 4096, CacheSize: 8})
	appendRange(t, s, 1, 10, 1, 10)
	const total = 600
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 8)
	wg.Add(1)
	go func() { // raft's main loop: appends
		defer wg.Done()
		defer close(stop)
		for i := uint64(11); i <= total; i += 5 {
			if err := s.StoreLogs(entries(i, i+4, 1)); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Add(1)
	go func() { // snapshotting: compacts, keeping 50 entries
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			time.Sleep(time.Millisecond)
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if last > first+100 {
				if err := s.DeleteRange(first, last-50); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	for range 3 { // replication: reads whatever is in range
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(1, 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				if last == 0 {
					continue
				}
				i := first + r.Uint64N(last-first+1)
				var l raft.Log
				err := s.GetLog(i, &l)
				if errors.Is(err, raft.ErrLogNotFound) {
					continue // compacted meanwhile
				}
				if err != nil || !sameLog(l, *entry(i, 1)) {
					errc <- errors.New("bad read")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if last, _ := s.LastIndex(); last != total+0 {
		t.Fatalf("last = %d, want %d", last, total)
	}
}

func TestClosed(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendRange(t, s, 1, 3, 1, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var l raft.Log
	for name, err := range map[string]error{
		"StoreLog":    s.StoreLog(entry(4, 1)),
		"GetLog":      s.GetLog(1, &l),
		"DeleteRange": s.DeleteRange(1, 1),
		"Set":         s.Set([]byte("k"), []byte("v")),
		"SetUint64":   s.SetUint64([]byte("k"), 1),
		"FirstIndex":  func() error { _, err := s.FirstIndex(); return err }(),
		"LastIndex":   func() error { _, err := s.LastIndex(); return err }(),
		"Get":         func() error { _, err := s.Get([]byte("k")); return err }(),
		"GetUint64":   func() error { _, err := s.GetUint64([]byte("k")); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestLockPreventsSecondOpen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	if s2, err := Open(dir, Options{}); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	} else if !strings.Contains(err.Error(), "already open") {
		t.Fatalf("unexpected error: %v", err)
	}
	s.Close()
	openT(t, dir, Options{}) // released by Close
}

// TestWriteErrorIsSticky: after an I/O error the store refuses writes,
// because memory and disk may disagree; reopening recovers.
func TestWriteErrorIsSticky(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	appendRange(t, s, 1, 10, 1, 5)
	s.segs[len(s.segs)-1].f.Close() // the next write fails with EBADF
	if err := s.StoreLogs(entries(11, 12, 1)); err == nil {
		t.Fatal("write to a closed file succeeded")
	}
	if err := s.StoreLogs(entries(11, 12, 1)); err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("second write: %v, want a refusal", err)
	}
	if err := s.DeleteRange(1, 5); err == nil {
		t.Fatal("delete after a failed write succeeded")
	}
	checkRange(t, s, 1, 10, 1) // reads still work
	s.Close()
	s = openT(t, dir, Options{})
	checkRange(t, s, 1, 10, 1)
	appendRange(t, s, 11, 12, 1, 2)
	checkRange(t, s, 1, 12, 1)
}

func TestUnexpectedSegmentName(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "junk.wal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("Open accepted junk.wal")
	}
}
