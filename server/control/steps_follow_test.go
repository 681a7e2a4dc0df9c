package control

import (
	"sync"
	"testing"
)

// A follow-up asked for while its key is busy runs once the step ended,
// never beside it; a second one replaces the first; without a step in
// flight it runs at once.
func TestStepsFollowRunsAfterTheStepInFlight(t *testing.T) {
	s := newSteps()
	k := stepKey{job: 1}
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	add := func(what string) {
		mu.Lock()
		order = append(order, what)
		mu.Unlock()
	}
	s.start(k, func() { <-release; add("step") })
	s.follow(k, func() { add("first follow-up") })
	s.follow(k, func() { add("second follow-up") })
	close(release)
	s.wait()
	if len(order) != 2 || order[0] != "step" || order[1] != "second follow-up" {
		t.Fatalf("ran %v, want the step, then only the latest follow-up", order)
	}

	s.follow(stepKey{job: 2}, func() { add("idle") })
	s.wait()
	if order[len(order)-1] != "idle" {
		t.Fatalf("ran %v, want a follow-up of an idle key run at once", order)
	}
}
