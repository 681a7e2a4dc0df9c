package control

import (
	"testing"
	"time"
)

// TestStepsOverlap: a step that waits (an agent slow to answer) holds up
// neither the pass nor another job's step, and a job or node in flight is
// not handled a second time until its step returned.
func TestStepsOverlap(t *testing.T) {
	s := newSteps()
	release := make(chan struct{})
	if !s.start(stepKey{node: "node001"}, func() { <-release }) {
		t.Fatal("first step of node001 not started")
	}
	if s.start(stepKey{node: "node001"}, func() { t.Error("node001 handled twice at once") }) {
		t.Fatal("a second step of node001 started while the first is in flight")
	}
	other := make(chan struct{})
	if !s.start(stepKey{job: 7}, func() { close(other) }) {
		t.Fatal("job 7's step not started")
	}
	select {
	case <-other: // ran while node001's step still waits
	case <-time.After(time.Minute):
		t.Fatal("job 7's step waited for node001's")
	}
	close(release)
	s.wait()
	if !s.start(stepKey{node: "node001"}, func() {}) {
		t.Fatal("node001 not handled again after its step returned")
	}
	s.wait()
	select {
	case <-s.done:
	default:
		t.Fatal("a step's end did not ask for a pass")
	}
}

// TestPassGap: the gap follows the pass's cost within its bounds.
func TestPassGap(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, 10 * time.Millisecond},
		{time.Millisecond, 10 * time.Millisecond},
		{10 * time.Millisecond, 30 * time.Millisecond},
		{time.Second, 50 * time.Millisecond},
	} {
		if got := passGap(c.took, 10*time.Millisecond, 50*time.Millisecond); got != c.want {
			t.Errorf("passGap(%s) = %s, want %s", c.took, got, c.want)
		}
	}
}
