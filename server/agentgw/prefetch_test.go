package agentgw

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/server/control"
)

// TestPrefetchCleanAnswersTheLaterClean: a job that exited has its stop
// asked for by PrefetchClean alone; the agent's evidence comes in without
// anyone waiting, and the Clean that follows (the cleaning chain's) gets
// it at once, with no wait of its own (CleanWait 0 would answer
// ErrInProgress otherwise).
func TestPrefetchCleanAnswersTheLaterClean(t *testing.T) {
	c := startAgentCluster(t)
	if err := c.exec.Start(c.task(3, "exit 0\n")); err != nil {
		t.Fatal(err)
	}
	c.waitPhase(t, 3, control.Exited)
	c.exec.PrefetchClean(3, testNode)
	in := c.gw.jobs.expectResult(cleanTaskID(3, testNode))
	select {
	case <-in:
	case <-time.After(time.Minute):
		t.Fatal("no evidence from the agent a minute after PrefetchClean")
	}
	c.exec.CleanWait = 0
	ev, err := c.exec.Clean(3, testNode)
	if err != nil || !strings.Contains(ev, "none left") {
		t.Fatalf("Clean after the prefetch: %q, %v", ev, err)
	}
}
