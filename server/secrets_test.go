package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSecrets(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	alone := Config{DataDir: dir, Bootstrap: true, Logger: log}
	keys, err := loadSecrets(alone)
	if err != nil || keys == nil {
		t.Fatalf("bootstrapping alone: %v %v", keys, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created key file: %v %v", fi, err)
	}
	again, err := loadSecrets(alone)
	if err != nil || again.Primary() != keys.Primary() {
		t.Fatalf("a restart made another key: %v", err)
	}
	// One of several bootstrapping servers, or a joining one: no key is
	// made up (each would make its own); without one BMCs are off here.
	other := t.TempDir()
	for _, cfg := range []Config{
		{DataDir: other, Bootstrap: true, Peers: []Peer{{ID: "s1"}, {ID: "s2"}}, Logger: log},
		{DataDir: other, Join: "10.0.0.1:7700", Logger: log},
	} {
		if keys, err := loadSecrets(cfg); err != nil || keys != nil {
			t.Fatalf("%+v: %v %v", cfg, keys, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other, "secrets.key")); !os.IsNotExist(err) {
		t.Fatal("a key file was created for a multi-server cluster")
	}
	// The same file given to another server opens what the first sealed.
	shared, err := loadSecrets(Config{DataDir: other, Join: "x", SecretsKeyFile: filepath.Join(dir, "secrets.key"), Logger: log})
	if err != nil || shared.Primary() != keys.Primary() {
		t.Fatalf("shared key file: %v", err)
	}
	if _, err := loadSecrets(Config{DataDir: other, Join: "x", SecretsKeyFile: filepath.Join(other, "missing.key"), Logger: log}); err == nil || !strings.Contains(err.Error(), "copy it from the server") {
		t.Fatalf("explicit missing file: %v", err)
	}
}
