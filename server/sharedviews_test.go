package server

import (
	"os"
	"testing"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestMain runs every test of the package with fsm's shared-view checker
// on: a controller or handler that writes into a node or job it got from
// fsm.Work, which callers share read-only, panics the test at the next
// apply or Work (raft/fsm/workshare.go).
func TestMain(m *testing.M) {
	fsm.CheckSharedViews(true)
	os.Exit(m.Run())
}
