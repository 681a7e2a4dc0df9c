package secretkey

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateLoadSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.key")
	r, created, err := LoadOrCreate(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	again, created, err := LoadOrCreate(path, true)
	if err != nil || created || again.Primary() != r.Primary() {
		t.Fatalf("reload: %v %v %s %s", created, err, again.Primary(), r.Primary())
	}
	aad := []byte("node001")
	s, err := r.Seal([]byte(`{"p":"hunter2"}`), aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Box, []byte("hunter2")) || s.KeyID != r.Primary() {
		t.Fatalf("sealed: %+v", s)
	}
	got, err := again.Open(s, aad)
	if err != nil || string(got) != `{"p":"hunter2"}` {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := r.Open(s, []byte("node002")); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("opened for another node: %v", err)
	}
	s.Box[len(s.Box)-1] ^= 1
	if _, err := r.Open(s, aad); err == nil {
		t.Fatal("an altered box opened")
	}
}

func TestRotationAndMissingKey(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, KeyBytes), bytes.Repeat([]byte{2}, KeyBytes)
	enc := base64.StdEncoding.EncodeToString
	oldRing, err := Parse([]byte(enc(oldKey) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := oldRing.Seal([]byte("secret"), nil)
	rotated, err := Parse([]byte("# new first\n" + enc(newKey) + "\n" + enc(oldKey) + " # old, until every BMC is re-sealed\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.Stale(s) || rotated.Primary() != ID(newKey) {
		t.Fatalf("stale %v primary %s", rotated.Stale(s), rotated.Primary())
	}
	if got, err := rotated.Open(s, nil); err != nil || string(got) != "secret" {
		t.Fatalf("old key does not open after rotation: %v", err)
	}
	other, _ := Parse([]byte(enc(newKey)))
	if other.Stale(s) {
		t.Fatal("a secret under a key the ring lacks counts as stale (it cannot be re-sealed)")
	}
	_, err = other.Open(s, nil)
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), s.KeyID) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestLoadRefusesLooseFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("mode 0644: %v", err)
	}
	if _, _, err := LoadOrCreate(filepath.Join(dir, "absent"), false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent without create: %v", err)
	}
	for name, text := range map[string]string{
		"empty":     "# nothing\n",
		"short key": base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"not b64":   "not base64 at all",
		"repeated":  strings.Repeat(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n", 2),
		"too big":   strings.Repeat("#", MaxFileBytes+1),
	} {
		if _, err := Parse([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParse: the key file parser never panics, accepts only files within
// the limits, and a keyring it returns seals and opens.
func FuzzParse(f *testing.F) {
	f.Add([]byte(base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"))
	f.Add([]byte("# c\n\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) + " # x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		if len(data) > MaxFileBytes || len(r.IDs()) == 0 || len(r.IDs()) > MaxKeys {
			t.Fatalf("accepted %d bytes with %d keys", len(data), len(r.IDs()))
		}
		s, err := r.Seal([]byte("x"), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.Open(s, []byte("aad")); err != nil || string(got) != "x" {
			t.Fatalf("round trip: %q %v", got, err)
		}
	})
}
