package simsm

import (
	"context"
	"errors"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

func TestApplyObserve(t *testing.T) {
	ports := []sm.GUID{0x11, 0x21, 0x31}
	s := New(ports, sm.TenantIsolation)
	ctx := context.Background()
	got, err := s.Observe(ctx, ports)
	if err != nil || got[0x11].HasKey(0x10) || !got[0x11].Has(sm.MakeEntry(sm.DefaultPKey, sm.Limited)) {
		t.Fatalf("initial tables %v, %v", got, err)
	}
	p := []sm.Partition{{Name: "job1", PKey: 0x10, Members: []sm.Member{{GUID: 0x11, Membership: sm.Full}, {GUID: 0x21, Membership: sm.Full}}}}
	if err := s.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Observe(ctx, ports)
	if !got[0x11].Has(sm.MakeEntry(0x10, sm.Full)) || got[0x31].HasKey(0x10) {
		t.Fatalf("after apply: %v", got)
	}
	if err := s.Apply(ctx, []sm.Partition{{Name: "bad", PKey: 0x7fff}}); err == nil {
		t.Fatal("default key accepted as a job partition")
	}
	s.FailApply = errors.New("sm down")
	if err := s.Apply(ctx, nil); err == nil {
		t.Fatal("failure knob ignored")
	}
	if _, err := s.Observe(ctx, []sm.GUID{0x99}); err == nil {
		t.Fatal("unknown port observed")
	}
	if s.Applies() != 1 {
		t.Fatalf("applies = %d", s.Applies())
	}
}
