package control

import (
	"flag"
	"os"
	"testing"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestMain runs the package's tests with fsm's shared-view checker on: a
// controller or handler that writes into a node or job it got from
// fsm.Work, which callers share read-only, panics the test at the next
// apply or Work (raft/fsm/workshare.go). A run with -test.bench leaves it
// off: the checker copies every node per generation and would be what
// the benchmarks measure.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		fsm.CheckSharedViews(true)
	}
	os.Exit(m.Run())
}
