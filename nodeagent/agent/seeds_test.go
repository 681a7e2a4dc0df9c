package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGossipSeedsAndInterval: configured seeds come after enrollment's,
// each once; bad seeds and a negative gossip interval are refused.
func TestGossipSeedsAndInterval(t *testing.T) {
	if got := mergeSeeds([]string{"a:1", "b:2"}, []string{"b:2", "c:3"}); !slices.Equal(got, []string{"a:1", "b:2", "c:3"}) {
		t.Fatalf("merged %v", got)
	}
	c := Config{Node: "node001", Servers: []string{"10.0.0.1:7703"}, DataDir: "/var/lib/ibex-agent", Disk: "/dev/nvme0n1",
		GossipSeeds: []string{"10.0.0.1:7704"}, GossipInterval: time.Second}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := c
	bad.GossipSeeds = []string{"10.0.0.1"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "gossip seed") {
		t.Errorf("seed without a port: %v", err)
	}
	bad = c
	bad.GossipInterval = -time.Second
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "GossipInterval") {
		t.Errorf("negative gossip interval: %v", err)
	}
}

// TestEnrolled: a data dir is enrolled once it holds the node certificate.
func TestEnrolled(t *testing.T) {
	dir := t.TempDir()
	if Enrolled(dir) || Enrolled(filepath.Join(dir, "missing")) {
		t.Fatal("an empty data dir counts as enrolled")
	}
	if err := os.WriteFile(filepath.Join(dir, certFile), []byte("cert"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !Enrolled(dir) {
		t.Fatal("a data dir with the certificate does not count as enrolled")
	}
}
