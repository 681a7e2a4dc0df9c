package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/server"
)

// TestSimRootOutsideTheDataDir: the simulated nodes' directory defaults
// to a sibling of the data dir and may never be inside it (a job could
// read the admin token) nor contain it.
func TestSimRootOutsideTheDataDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, ".ibex-dev")
	if got, err := simRoot("", data); err != nil || got != data+"-nodes" {
		t.Fatalf("default: %q, %v; want %q", got, err, data+"-nodes")
	}
	for _, bad := range []string{data, filepath.Join(data, "nodes"), dir} {
		if got, err := simRoot(bad, data); err == nil || !strings.Contains(err.Error(), "admin token") {
			t.Errorf("--sim-root %s accepted (%q, %v)", bad, got, err)
		}
	}
	if got, err := simRoot(filepath.Join(dir, "elsewhere"), data); err != nil || got != filepath.Join(dir, "elsewhere") {
		t.Errorf("a sibling: %q, %v", got, err)
	}
}

// TestSimListenDefaults: unset agent and gossip addresses go next to the
// API port; set ones are kept; a gossip port the kernel would pick is
// refused (agents could not be told where to join).
func TestSimListenDefaults(t *testing.T) {
	cfg := server.Config{Listen: "127.0.0.1:7700"}
	if err := simListenDefaults(&cfg, false, false); err != nil || cfg.AgentListen != "127.0.0.1:7703" || cfg.GossipBind != "127.0.0.1:7704" {
		t.Fatalf("defaults: %q %q %v", cfg.AgentListen, cfg.GossipBind, err)
	}
	cfg = server.Config{Listen: "127.0.0.1:7700", AgentListen: "127.0.0.1:9000", GossipBind: "127.0.0.1:9001"}
	if err := simListenDefaults(&cfg, true, true); err != nil || cfg.AgentListen != "127.0.0.1:9000" || cfg.GossipBind != "127.0.0.1:9001" {
		t.Fatalf("explicit: %q %q %v", cfg.AgentListen, cfg.GossipBind, err)
	}
	for _, bad := range []server.Config{
		{Listen: "127.0.0.1:7700", AgentListen: "127.0.0.1:9000", GossipBind: "127.0.0.1:0"},
		{Listen: "127.0.0.1:7700", AgentListen: "", GossipBind: "127.0.0.1:9001"},
		{Listen: "127.0.0.1:0"},
	} {
		c := bad
		if err := simListenDefaults(&c, bad.AgentListen != "" || bad.GossipBind != "", bad.GossipBind != ""); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
