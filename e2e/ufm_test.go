package e2e

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm/ufm/ufmfake"
)

// TestUFMPartitions runs ibexd against a UFM REST server that follows the
// documented PKey API: an allocation creates its key with the nodes' port
// GUIDs as full members, and releasing it deletes the key.
func TestUFMPartitions(t *testing.T) {
	fake := ufmfake.New("ibex", "s3cret")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	pw := filepath.Join(t.TempDir(), "ufm.pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	c := startDev(t, "--fabric", "ufm", "--ufm-url", srv.URL, "--ufm-user", "ibex", "--ufm-password-file", pw,
		"--leaves", "2", "--nodes-per-leaf", "4")
	id := strings.Fields(c.must("alloc", "-N", "3", "-t", "1h"))[1]
	if show := c.must("show", id); !strings.Contains(show, "confirmed") {
		t.Fatalf("allocation without a confirmed partition:\n%s", show)
	}
	snap := fake.Snapshot()
	if len(snap) != 1 {
		t.Fatalf("UFM holds %d keys, want 1: %+v", len(snap), snap)
	}
	for _, p := range snap {
		if len(p.Members) != 3 {
			t.Fatalf("key has %d members, want the 3 nodes' ports: %+v", len(p.Members), p.Members)
		}
		for g, m := range p.Members {
			if m != "full" {
				t.Fatalf("port %s is %s, want full", g, m)
			}
		}
	}
	c.must("release", id)
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.Snapshot()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("released key still in UFM: %+v", fake.Snapshot())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestUFMPasswordFileMustBePrivate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	pw := filepath.Join(t.TempDir(), "ufm.pw")
	os.WriteFile(pw, []byte("x"), 0o644)
	out, _ := runIbexd(t, "--dev", "--data-dir", t.TempDir(), "--fabric", "ufm", "--ufm-url", "http://127.0.0.1:1", "--ufm-user", "u", "--ufm-password-file", pw)
	if !strings.Contains(out, "chmod 600") {
		t.Fatalf("world-readable UFM password accepted:\n%s", out)
	}
}
