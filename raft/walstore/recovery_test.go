package walstore

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildLog writes 1..last in batches into a fresh dir and closes it.
func buildLog(t *testing.T, opts Options, last uint64, batch int) (dir string, segs []string) {
	t.Helper()
	dir = t.TempDir()
	s := openT(t, dir, opts)
	appendRange(t, s, 1, last, 1, batch)
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return dir, segmentFiles(t, dir)
}

// TestTornTailEveryOffset cuts the last segment at every byte of its last
// record, as a crash mid-append would, and checks Open keeps exactly the
// complete records, repairs the file, and can append again.
func TestTornTailEveryOffset(t *testing.T) {
	opts := Options{SegmentSize: 2048}
	dir, segs := buildLog(t, opts, 60, 3)
	if len(segs) < 2 {
		t.Fatalf("want several segments, got %v", segs)
	}
	lastSeg := filepath.Join(dir, segs[len(segs)-1])
	full, err := os.ReadFile(lastSeg)
	if err != nil {
		t.Fatal(err)
	}
	recStart := int64(len(full) - recordSize(entry(60, 1)))
	for cut := recStart; cut < int64(len(full)); cut++ {
		d := copyDir(t, dir)
		if err := os.Truncate(filepath.Join(d, segs[len(segs)-1]), cut); err != nil {
			t.Fatal(err)
		}
		s := openT(t, d, opts)
		checkRange(t, s, 1, 59, 1)
		fi, err := os.Stat(filepath.Join(d, segs[len(segs)-1]))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != recStart {
			t.Fatalf("cut at %d: file is %d bytes after recovery, want %d", cut, fi.Size(), recStart)
		}
		if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
			t.Fatalf("cut at %d: CurrentTerm = %d, %v", cut, v, err)
		}
		appendRange(t, s, 60, 61, 1, 2)
		checkRange(t, s, 1, 61, 1)
		s.Close()
	}
}

// TestTornTailGarbage covers the other shapes a crash leaves: zeros or
// junk after the last record (the size reached the disk, the data did
// not), and a damaged record in the last batch.
func TestTornTailGarbage(t *testing.T) {
	opts := Options{SegmentSize: 2048}
	cases := []struct {
		name   string
		mangle func(b []byte) []byte
		last   uint64
	}{
		{"zeros after the end", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, 60},
		{"junk after the end", func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0xa5}, 100)...) }, 60},
		{"a few bytes after the end", func(b []byte) []byte { return append(b, 1, 2, 3) }, 60},
		{"last record damaged", func(b []byte) []byte { b[len(b)-3] ^= 0xff; return b }, 59},
		{"last record zeroed", func(b []byte) []byte {
			clear(b[len(b)-recordSize(entry(60, 1)):])
			return b
		}, 59},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, segs := buildLog(t, opts, 60, 3)
			p := filepath.Join(dir, segs[len(segs)-1])
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, c.mangle(b), 0o600); err != nil {
				t.Fatal(err)
			}
			s := openT(t, dir, opts)
			checkRange(t, s, 1, c.last, 1)
			appendRange(t, s, c.last+1, 70, 1, 5)
			s.Close()
			checkRange(t, openT(t, dir, opts), 1, 70, 1)
		})
	}
}

// A segment created just before a crash may hold nothing at all.
func TestEmptyLastSegmentRemoved(t *testing.T) {
	opts := Options{SegmentSize: 2048}
	dir, segs := buildLog(t, opts, 60, 3)
	empty := filepath.Join(dir, segmentName(61))
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openT(t, dir, opts)
	checkRange(t, s, 1, 60, 1)
	if got := segmentFiles(t, dir); len(got) != len(segs) {
		t.Fatalf("segments after recovery: %v, want %v", got, segs)
	}
	appendRange(t, s, 61, 65, 1, 5)
	checkRange(t, s, 1, 65, 1)
}

// TestCorruptionRefusesToStart: damage that a crash cannot explain must stop
// Open rather than silently drop committed entries.
func TestCorruptionRefusesToStart(t *testing.T) {
	opts := Options{SegmentSize: 1024}
	cases := []struct {
		name   string
		mangle func(t *testing.T, dir string, segs []string)
		want   string
	}{
		{"bit flip in first segment", func(t *testing.T, dir string, segs []string) {
			flip(t, filepath.Join(dir, segs[0]), 100)
		}, "corrupt"},
		{"bit flip in a middle segment", func(t *testing.T, dir string, segs []string) {
			flip(t, filepath.Join(dir, segs[1]), 10)
		}, "corrupt"},
		{"torn earlier segment", func(t *testing.T, dir string, segs []string) {
			p := filepath.Join(dir, segs[0])
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()-5)
		}, "corrupt"},
		{"junk after an earlier segment", func(t *testing.T, dir string, segs []string) {
			f, _ := os.OpenFile(filepath.Join(dir, segs[0]), os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{0, 0, 0, 0})
			f.Close()
		}, "corrupt"},
		{"missing middle segment", func(t *testing.T, dir string, segs []string) {
			os.Remove(filepath.Join(dir, segs[1]))
		}, "previous segment ends"},
		{"empty middle segment", func(t *testing.T, dir string, segs []string) {
			os.Truncate(filepath.Join(dir, segs[1]), 0)
		}, "empty"},
		{"last segment misnamed", func(t *testing.T, dir string, segs []string) {
			last := segs[len(segs)-1]
			base, _ := parseSegmentName(last)
			os.Rename(filepath.Join(dir, last), filepath.Join(dir, segmentName(base+1)))
		}, "want"},
		{"stable file damaged", func(t *testing.T, dir string, segs []string) {
			flip(t, filepath.Join(dir, stableFile), 12)
		}, "checksum"},
		{"meta file damaged", func(t *testing.T, dir string, segs []string) {
			s := openT(t, dir, opts)
			if err := s.DeleteRange(1, 5); err != nil {
				t.Fatal(err)
			}
			s.Close()
			flip(t, filepath.Join(dir, metaFile), 9)
		}, "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, segs := buildLog(t, opts, 60, 3)
			if len(segs) < 3 {
				t.Fatalf("want at least 3 segments, got %v", segs)
			}
			c.mangle(t, dir, segs)
			s, err := Open(dir, opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged store")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			t.Log(err)
		})
	}
}

func flip(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x10
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A crash while rewriting stable or meta leaves a .tmp file, never a
// half-written real one; Open ignores and removes it.
func TestLeftoverTempFiles(t *testing.T) {
	dir, _ := buildLog(t, Options{}, 10, 5)
	tmp := filepath.Join(dir, stableFile+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openT(t, dir, Options{})
	checkRange(t, s, 1, 10, 1)
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
		t.Fatalf("CurrentTerm = %d, %v", v, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temp file survived: %v", err)
	}
}
