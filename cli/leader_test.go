package cli

import (
	"path/filepath"
	"testing"
)

func TestLeaderFile(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if f := leaderFile("127.0.0.1:7700"); f != "" {
		t.Errorf("one address: leader file %q, want none", f)
	}
	a, b := leaderFile("s1:7700,s2:7700"), leaderFile("s2:7700,s1:7700")
	if filepath.Dir(a) != "/cache/ibex" || a == b {
		t.Errorf("leader files %q and %q: want two different files in /cache/ibex", a, b)
	}
}
