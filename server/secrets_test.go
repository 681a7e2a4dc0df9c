package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSecrets(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	alone := Config{DataDir: dir, Bootstrap: true, Logger: log}
	keys, err := loadSecrets(ctx, alone)
	if err != nil || keys == nil {
		t.Fatalf("bootstrapping alone: %v %v", keys, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created key file: %v %v", fi, err)
	}
	again, err := loadSecrets(ctx, alone)
	if err != nil || again.Primary() != keys.Primary() {
		t.Fatalf("a restart made another key: %v", err)
	}
	// The same file given to another server opens what the first sealed.
	other := t.TempDir()
	shared, err := loadSecrets(ctx, Config{DataDir: other, Join: "x", SecretsKeyFile: filepath.Join(dir, "secrets.key"), Logger: log})
	if err != nil || shared.Primary() != keys.Primary() {
		t.Fatalf("shared key file: %v", err)
	}
	if _, err := loadSecrets(ctx, Config{DataDir: other, Join: "x", SecretsKeyFile: filepath.Join(other, "missing.key"), Logger: log}); err == nil || !strings.Contains(err.Error(), "copy it from the server") {
		t.Fatalf("explicit missing file: %v", err)
	}
}

// Servers without a key file refuse to start, naming the flag: a joining
// one with nothing next to its admin token, a restarted one whose file
// went missing.
func TestLoadSecretsMissingKey(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokDir := t.TempDir()
	for name, cfg := range map[string]Config{
		"join":    {DataDir: t.TempDir(), Join: "10.0.0.1:7700", AdminTokenFile: filepath.Join(tokDir, "admin.token"), NodeID: "s4", Logger: log},
		"restart": {DataDir: t.TempDir(), AdminTokenFile: filepath.Join(tokDir, "admin.token"), NodeID: "s2", Logger: log},
		"own dir": {DataDir: t.TempDir(), Join: "10.0.0.1:7700", Logger: log},
	} {
		keys, err := loadSecrets(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "--secrets-key-file") || keys != nil {
			t.Errorf("%s: %v %v", name, keys, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "secrets.key")); !os.IsNotExist(err) {
			t.Errorf("%s: a key was made up: %v", name, err)
		}
	}
}

// Servers bootstrapping together share one key through the admin token's
// directory, each keeping a copy in its data directory; a server joining
// later finds it there too.
func TestLoadSecretsShared(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokDir := t.TempDir()
	peers := []Peer{{ID: "s1"}, {ID: "s2"}, {ID: "s3"}}
	cfg := func(id string) Config {
		os.MkdirAll(filepath.Join(tokDir, id), 0o700)
		return Config{DataDir: filepath.Join(tokDir, id), Bootstrap: true, Peers: peers, NodeID: id,
			AdminTokenFile: filepath.Join(tokDir, "admin.token"), Logger: log}
	}
	// s2 waits for s1, which creates the shared file.
	got := make(chan string, 1)
	go func() {
		k, err := loadSecrets(ctx, cfg("s2"))
		if err != nil {
			got <- err.Error()
			return
		}
		got <- k.Primary()
	}()
	s1, err := loadSecrets(ctx, cfg("s1"))
	if err != nil {
		t.Fatal(err)
	}
	if s2 := <-got; s2 != s1.Primary() {
		t.Fatalf("s2 has %s, s1 %s", s2, s1.Primary())
	}
	os.MkdirAll(filepath.Join(tokDir, "s4"), 0o700)
	joiner := Config{DataDir: filepath.Join(tokDir, "s4"), Join: "x", NodeID: "s4", AdminTokenFile: filepath.Join(tokDir, "admin.token"), Logger: log}
	if k, err := loadSecrets(ctx, joiner); err != nil || k.Primary() != s1.Primary() {
		t.Fatalf("joiner: %v", err)
	}
	// Each keeps its own copy: the shared one can go.
	if err := os.Remove(filepath.Join(tokDir, "secrets.key")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2", "s3"} {
		c := cfg(id)
		if id == "s3" {
			gone, stop := context.WithCancel(ctx)
			stop()
			if _, err := loadSecrets(gone, c); err == nil {
				t.Fatal("s3 never started, yet found a key")
			}
			continue
		}
		fi, err := os.Stat(filepath.Join(c.DataDir, "secrets.key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s's copy: %v %v", id, fi, err)
		}
		if k, err := loadSecrets(ctx, c); err != nil || k.Primary() != s1.Primary() {
			t.Fatalf("%s restarted: %v", id, err)
		}
	}
}
