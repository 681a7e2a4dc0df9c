package e2e

import (
	"path/filepath"
	"testing"

	"github.com/ibex-hpc/ibex/internal/testcluster"
)

// startHA starts n real ibexd servers as one cluster (see testcluster).
func startHA(t *testing.T, n int, extra ...string) *testcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-server test: skipped with -short")
	}
	return testcluster.Start(t, binDir, n, nil, extra...)
}

var filepathGlob = filepath.Glob
