package walstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

func TestDeleteRange(t *testing.T) {
	// Segments of ~1 KiB hold about 14 entries each; the log is 1..200.
	opts := Options{SegmentSize: 1024, CacheSize: 16}
	type op struct{ min, max uint64 }
	cases := []struct {
		name        string
		ops         []op
		first, last uint64
		wantErr     error
	}{
		{"prefix inside first segment", []op{{1, 5}}, 6, 200, nil},
		{"prefix across segments", []op{{1, 150}}, 151, 200, nil},
		{"prefix from below first", []op{{1, 20}, {1, 40}}, 41, 200, nil},
		{"prefix up to last-1", []op{{1, 199}}, 200, 200, nil},
		{"suffix inside last segment", []op{{199, 200}}, 1, 198, nil},
		{"suffix across segments", []op{{50, 200}}, 1, 49, nil},
		{"suffix beyond last", []op{{120, 1000}}, 1, 119, nil},
		{"suffix to index 2", []op{{2, 200}}, 1, 1, nil},
		{"prefix then suffix", []op{{1, 100}, {150, 200}}, 101, 149, nil},
		{"everything", []op{{1, 200}}, 0, 0, nil},
		{"everything and more", []op{{0, 1 << 40}}, 0, 0, nil},
		{"everything after compaction", []op{{1, 60}, {61, 200}}, 0, 0, nil},
		{"beyond last is a no-op", []op{{201, 300}}, 1, 200, nil},
		{"below first is a no-op", []op{{1, 100}, {1, 50}}, 101, 200, nil},
		{"min > max is a no-op", []op{{10, 5}}, 1, 200, nil},
		{"hole", []op{{10, 20}}, 1, 200, ErrUnsupportedDelete},
		{"hole after compaction", []op{{1, 10}, {12, 199}}, 11, 200, ErrUnsupportedDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, dir, opts)
			appendRange(t, s, 1, 200, 1, 5)
			var err error
			for _, o := range c.ops {
				if err = s.DeleteRange(o.min, o.max); err != nil {
					break
				}
			}
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("DeleteRange: %v, want %v", err, c.wantErr)
			}
			checkRange(t, s, c.first, c.last, 1)
			// No segment may remain that holds only deleted entries.
			for _, seg := range s.segs {
				if seg.last() < c.first || (c.last != 0 && seg.base > c.last) {
					t.Fatalf("segment %d..%d survived outside [%d, %d]", seg.base, seg.last(), c.first, c.last)
				}
			}
			if got, want := len(segmentFiles(t, dir)), len(s.segs); got != want {
				t.Fatalf("%d segment files on disk, %d in use", got, want)
			}
			// Deleted entries stay deleted across a restart.
			s.Close()
			s = openT(t, dir, opts)
			checkRange(t, s, c.first, c.last, 1)

			// The log keeps working: append after the new end (a
			// different term, as after a conflict) and reopen.
			next := c.last + 1
			if c.last == 0 {
				next = 1000 // an emptied log restarts after the snapshot
			}
			appendRange(t, s, next, next+30, 2, 4)
			want := c.first
			if c.last == 0 {
				want = next
			}
			checkTerms := func(s *Store) {
				t.Helper()
				f, _ := s.FirstIndex()
				l, _ := s.LastIndex()
				if f != want || l != next+30 {
					t.Fatalf("after append: [%d, %d], want [%d, %d]", f, l, want, next+30)
				}
				for i := f; i <= l; i++ {
					term := uint64(1)
					if i >= next {
						term = 2
					}
					var got raft.Log
					if err := s.GetLog(i, &got); err != nil || !sameLog(got, *entry(i, term)) {
						t.Fatalf("GetLog(%d) = %+v, %v", i, got, err)
					}
				}
			}
			checkTerms(s)
			s.Close()
			checkTerms(openT(t, dir, opts))
		})
	}
}

// After the log is emptied (snapshot install), a follower may restart its
// log below the old floor; those entries must survive a restart.
func TestDeleteAllThenAppendLower(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	appendRange(t, s, 1, 100, 1, 10)
	if err := s.DeleteRange(1, 50); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(51, 100); err != nil {
		t.Fatal(err)
	}
	appendRange(t, s, 70, 80, 1, 3)
	checkRange(t, s, 70, 80, 1)
	s.Close()
	checkRange(t, openT(t, dir, Options{}), 70, 80, 1)
}

// TestCompactionCrash simulates a crash after the floor moved but before
// the segments below it were unlinked: Open must finish the job.
func TestCompactionCrash(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 512}
	s := openT(t, dir, opts)
	appendRange(t, s, 1, 100, 1, 4)
	before := copyDir(t, dir) // every segment, floor still at 0
	if err := s.DeleteRange(1, 70); err != nil {
		t.Fatal(err)
	}
	s.Close()
	meta, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		t.Fatal(err)
	}
	// The old segments plus the new floor: the state after the meta
	// rename and before any unlink.
	if err := os.WriteFile(filepath.Join(before, metaFile), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, before, opts)
	checkRange(t, s, 71, 100, 1)
	if got, want := len(segmentFiles(t, before)), len(segmentFiles(t, dir)); got != want {
		t.Fatalf("%d segment files after recovery, want %d", got, want)
	}
}
