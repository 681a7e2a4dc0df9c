package fsm

import (
	"errors"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func TestPowerCycleMark(t *testing.T) {
	s := NewState()
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	s.addNode(&model.Node{Name: "node001", State: model.NodeReady})
	for _, bad := range []struct {
		c    PowerCycle
		want error
	}{
		{PowerCycle{Node: "nope", Until: t0.Add(time.Minute), Time: t0}, ErrNotFound},
		{PowerCycle{Node: "node001", Until: t0.Add(-time.Second), Time: t0}, ErrInvalid},
		{PowerCycle{Node: "node001", Until: t0.Add(2 * time.Hour), Time: t0}, ErrInvalid},
	} {
		if err := s.powerCycle(&bad.c); !errors.Is(err, bad.want) {
			t.Errorf("%+v: %v, want %v", bad.c, err, bad.want)
		}
	}
	if s.Nodes["node001"].PowerCycleUntil != nil {
		t.Fatal("a refused mark was written")
	}
	if err := s.powerCycle(&PowerCycle{Node: "node001", Until: t0.Add(10 * time.Minute), Time: t0}); err != nil {
		t.Fatal(err)
	}
	n := s.Nodes["node001"]
	if !PowerCycling(n, t0.Add(9*time.Minute)) || PowerCycling(n, t0.Add(10*time.Minute)) {
		t.Fatalf("mark until %v", n.PowerCycleUntil)
	}
	if err := s.powerCycle(&PowerCycle{Node: "node001", Time: t0.Add(time.Minute)}); err != nil || PowerCycling(s.Nodes["node001"], t0.Add(time.Minute)) {
		t.Fatalf("clear: %v, %v", err, s.Nodes["node001"].PowerCycleUntil)
	}
}
