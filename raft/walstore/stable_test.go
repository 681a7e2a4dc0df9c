package walstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

func TestStableStore(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	k := func(s string) []byte { return []byte(s) }

	// A fresh store must look fresh to raft: it compares err.Error() with
	// "not found" for CurrentTerm and LastVoteTerm.
	for _, key := range []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"} {
		if v, err := s.GetUint64(k(key)); err == nil || err.Error() != "not found" || v != 0 {
			t.Fatalf("GetUint64(%s) on a fresh store = %d, %v; want 0, \"not found\"", key, v, err)
		}
		if v, err := s.Get(k(key)); err == nil || err.Error() != "not found" || v != nil || !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("Get(%s) on a fresh store = %q, %v", key, v, err)
		}
	}
	if ok, err := raft.HasExistingState(s, s, raft.NewInmemSnapshotStore()); err != nil || ok {
		t.Fatalf("HasExistingState on a fresh store = %v, %v", ok, err)
	}

	cases := []struct {
		name string
		set  func() error
		key  string
		want []byte
	}{
		{"bytes", func() error { return s.Set(k("a"), k("alpha")) }, "a", k("alpha")},
		{"overwrite", func() error { return s.Set(k("a"), k("beta")) }, "a", k("beta")},
		{"empty value", func() error { return s.Set(k("e"), nil) }, "e", []byte{}},
		{"empty key", func() error { return s.Set(nil, k("v")) }, "", k("v")},
		{"binary", func() error { return s.Set(k("b\x00in"), []byte{0, 1, 255}) }, "b\x00in", []byte{0, 1, 255}},
		{"uint64", func() error { return s.SetUint64(k("CurrentTerm"), 42) }, "CurrentTerm", []byte{0, 0, 0, 0, 0, 0, 0, 42}},
		{"uint64 max", func() error { return s.SetUint64(k("LastVoteTerm"), 1<<64-1) }, "LastVoteTerm", bytes.Repeat([]byte{255}, 8)},
	}
	check := func(s *Store) {
		t.Helper()
		final := map[string][]byte{}
		for _, c := range cases {
			final[c.key] = c.want // later cases overwrite earlier ones
		}
		for key, want := range final {
			got, err := s.Get(k(key))
			if err != nil || got == nil || !bytes.Equal(got, want) {
				t.Fatalf("Get(%q) = %q, %v; want %q", key, got, err, want)
			}
		}
		if v, err := s.GetUint64(k("CurrentTerm")); err != nil || v != 42 {
			t.Fatalf("GetUint64(CurrentTerm) = %d, %v", v, err)
		}
		if v, err := s.GetUint64(k("LastVoteTerm")); err != nil || v != 1<<64-1 {
			t.Fatalf("GetUint64(LastVoteTerm) = %d, %v", v, err)
		}
		if _, err := s.GetUint64(k("a")); err == nil {
			t.Fatal("GetUint64 of a 4-byte value succeeded")
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.syncs.file.Load()
			if err := c.set(); err != nil {
				t.Fatal(err)
			}
			if s.syncs.file.Load() != before+1 {
				t.Fatal("Set did not fsync the stable file")
			}
			got, err := s.Get(k(c.key))
			if err != nil || !bytes.Equal(got, c.want) || got == nil {
				t.Fatalf("Get(%q) = %q, %v; want %q", c.key, got, err, c.want)
			}
		})
	}
	check(s)

	// Values are copied both ways.
	in := k("orig")
	if err := s.Set(k("c"), in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	out, _ := s.Get(k("c"))
	out[1] = 'Y'
	if again, _ := s.Get(k("c")); string(again) != "orig" {
		t.Fatalf("stored value was aliased: %q", again)
	}

	s.Close()
	s = openT(t, dir, Options{})
	check(s)
	if ok, err := raft.HasExistingState(s, s, raft.NewInmemSnapshotStore()); err != nil || !ok {
		t.Fatalf("HasExistingState after SetUint64(CurrentTerm) = %v, %v", ok, err)
	}
}

func TestKVCodec(t *testing.T) {
	m := map[string][]byte{"x": {1}, "": {}, "long": bytes.Repeat([]byte{7}, 1000)}
	b := encodeKV(m)
	got, err := decodeKV(b)
	if err != nil || len(got) != len(m) {
		t.Fatalf("decode: %v, %v", got, err)
	}
	for k, v := range m {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("%q = %v, want %v", k, got[k], v)
		}
	}
	for cut := range len(b) {
		if _, err := decodeKV(b[:cut]); err == nil {
			t.Fatalf("truncated to %d bytes decoded", cut)
		}
	}
}
