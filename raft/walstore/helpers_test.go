package walstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openT(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// entry is the deterministic content of index i, so any read can be
// checked without remembering what was written.
func entry(i, term uint64) *raft.Log {
	l := &raft.Log{Index: i, Term: term, Type: raft.LogType(i % 6),
		Data:       []byte(fmt.Sprintf("data-%d-%s", i, string(make([]byte, i%40)))),
		AppendedAt: time.Unix(1_700_000_000+int64(i), int64(i)),
	}
	if i%3 == 0 {
		l.Extensions = []byte(fmt.Sprintf("ext-%d", i))
	}
	return l
}

func entries(from, to, term uint64) []*raft.Log {
	var ls []*raft.Log
	for i := from; i <= to; i++ {
		ls = append(ls, entry(i, term))
	}
	return ls
}

// appendRange stores from..to in batches of batch entries.
func appendRange(t testing.TB, s *Store, from, to, term uint64, batch int) {
	t.Helper()
	ls := entries(from, to, term)
	for len(ls) > 0 {
		n := min(batch, len(ls))
		if err := s.StoreLogs(ls[:n]); err != nil {
			t.Fatalf("StoreLogs(%d..%d): %v", ls[0].Index, ls[n-1].Index, err)
		}
		ls = ls[n:]
	}
}

// checkRange asserts the store holds exactly first..last with term, and
// nothing around it.
func checkRange(t testing.TB, s *Store, first, last, term uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("range is [%d, %d], want [%d, %d]", f, l, first, last)
	}
	for i := first; i <= last && last != 0; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if want := entry(i, term); !sameLog(got, *want) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", i, got, *want)
		}
	}
	for _, i := range []uint64{0, first - 1, last + 1, last + 100} {
		if i >= first && i <= last && last != 0 {
			continue
		}
		var got raft.Log
		if err := s.GetLog(i, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) outside [%d, %d]: got %v, want ErrLogNotFound", i, first, last, err)
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
