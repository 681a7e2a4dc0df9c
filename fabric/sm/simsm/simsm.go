// Package simsm is a simulated subnet manager for `ibexd --dev` on machines
// without OpenSM: it holds each port's P_Key table in memory, computed from
// the desired partitions by the same rules a real SM applies (sm.Expected).
// Tests of the partition invariants run against real OpenSM (sm/opensm);
// this keeps the demo's data flow identical when OpenSM is not installed.
package simsm

import (
	"context"
	"fmt"
	"sync"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// SM is the simulated subnet manager of a fixed set of CA ports.
type SM struct {
	mu      sync.Mutex
	rules   sm.DefaultRules
	ports   []sm.GUID
	tables  map[sm.GUID]sm.Table
	applies int
	// FailApply, when set, makes Apply fail (a test double's knob).
	FailApply error
}

var _ sm.Driver = (*SM)(nil)

// New starts with every port in the default partition only.
func New(ports []sm.GUID, rules sm.DefaultRules) *SM {
	s := &SM{rules: rules, ports: append([]sm.GUID(nil), ports...)}
	s.tables = sm.Expected(nil, rules, s.ports)
	return s
}

// Apply validates desired and programs every port at once.
func (s *SM) Apply(ctx context.Context, desired []sm.Partition) error {
	if err := sm.ValidateDesired(desired); err != nil {
		return fmt.Errorf("simulated sm: not applied: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FailApply != nil {
		return s.FailApply
	}
	s.tables = sm.Expected(desired, s.rules, s.ports)
	s.applies++
	return nil
}

// Observe returns the tables of the known ports among ports.
func (s *SM) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[sm.GUID]sm.Table{}
	var missing []sm.GUID
	for _, g := range ports {
		t, ok := s.tables[g]
		if !ok {
			missing = append(missing, g)
			continue
		}
		out[g] = append(sm.Table(nil), t...)
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("simulated sm: unknown ports %v", missing)
	}
	return out, nil
}

// Applies counts successful Apply calls (reconfigurations).
func (s *SM) Applies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applies
}
