package control

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// tamperSM is a subnet manager someone else changes behind ibex's back:
// a port's table holds an extra key until ibex applies its set again.
type tamperSM struct {
	sm.Driver
	mu    sync.Mutex
	extra map[sm.GUID]sm.Entry
}

func (s *tamperSM) Apply(ctx context.Context, desired []sm.Partition) error {
	s.mu.Lock()
	s.extra = nil
	s.mu.Unlock()
	return s.Driver.Apply(ctx, desired)
}

func (s *tamperSM) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	t, err := s.Driver.Observe(ctx, ports)
	s.mu.Lock()
	defer s.mu.Unlock()
	for g, e := range s.extra {
		if tab, ok := t[g]; ok {
			t[g] = append(tab, e)
		}
	}
	return t, err
}

func (h *harness) ledger(node string) []model.LedgerEntry {
	var l []model.LedgerEntry
	h.store.Read(func(st *fsm.State) { l = append(l, st.Ledger[node]...) })
	return l
}

// TestTableDriftIsRepairedAndRecorded: a port of a running allocation
// found holding a key the allocations do not give it is repaired on the
// same pass, and the node's ledger says so in its tenant's tenancy.
func TestTableDriftIsRepairedAndRecorded(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, true)
	tamper := &tamperSM{Driver: h.sm}
	h.loops.parts.cfg.SM = tamper
	id := h.submit("alice", 2, time.Hour)
	h.pass()
	h.pass()
	j := h.job(id)
	if !j.PartitionReady {
		t.Fatalf("partition not ready: %+v", j)
	}
	victim := j.Nodes[0]
	port := h.loops.cfg.Fabric.PortsOf(victim)[0]
	tamper.mu.Lock()
	tamper.extra = map[sm.GUID]sm.Entry{port: sm.MakeEntry(0x1234, sm.Full)}
	tamper.mu.Unlock()
	h.pass()
	if h.loops.parts.Drifts() != 1 {
		t.Fatalf("%d drift repairs, want 1", h.loops.parts.Drifts())
	}
	l := h.ledger(victim)
	e := l[len(l)-1]
	if e.Step != fsm.DriftStep || !e.OK || e.JobID != id || e.Tenant != "alice" || !strings.Contains(e.Evidence, "unexpected [0x9234]") {
		t.Fatalf("ledger entry %+v", e)
	}
	h.pass()
	if h.loops.parts.Drifts() != 1 {
		t.Fatal("a repaired fabric counted as drift again")
	}
	other := j.Nodes[1]
	if l := h.ledger(other); len(l) > 0 && l[len(l)-1].Step == fsm.DriftStep {
		t.Fatalf("the untouched node %s got a drift entry", other)
	}
}

// fileSM is opensm.Driver over a file whose "fabric" is the file itself:
// the reader reports what the file in place says, as OpenSM would after
// a SIGHUP.
func fileSM(t *testing.T) (*opensm.Driver, string) {
	path := filepath.Join(t.TempDir(), "partitions.conf")
	read := func(ctx context.Context, want []sm.GUID) (map[sm.GUID]sm.Table, error) {
		b, _ := os.ReadFile(path)
		parts, err := opensm.Parse(b).Partitions()
		if err != nil {
			parts = nil
		}
		return sm.Expected(parts, sm.TenantIsolation, want), nil
	}
	d, err := opensm.New(opensm.Config{PartitionsFile: path, Rules: sm.TenantIsolation,
		Reload: func(context.Context) error { return nil }, Reader: opensm.ReaderFunc(read), VerifyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d, path
}

// TestTamperedPartitionsFileIsRewritten: a partitions file that moves one
// tenant's node into another's partition is rewritten by the watcher, and
// the moved node's ledger records it.
func TestTamperedPartitionsFileIsRewritten(t *testing.T) {
	h := newHarness(t, pkeypool.Pool{}, true)
	d, path := fileSM(t)
	h.loops.parts.cfg.SM = d
	a := h.submit("alice", 2, time.Hour)
	b := h.submit("bob", 1, time.Hour)
	h.pass()
	h.pass()
	ja, jb := h.job(a), h.job(b)
	if !ja.PartitionReady || !jb.PartitionReady {
		t.Fatalf("partitions not ready: %v %v", ja.PartitionReady, jb.PartitionReady)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Bob's node in Alice's partition too.
	moved := jb.Nodes[0]
	var parts []sm.Partition
	parts = append(parts, sm.Partition{Name: "job1", PKey: sm.PKey(ja.PKey)}, sm.Partition{Name: "job2", PKey: sm.PKey(jb.PKey)})
	for _, g := range h.loops.cfg.Fabric.PortsOf(moved) {
		parts[1].Members = append(parts[1].Members, sm.Member{GUID: g, Membership: sm.Full})
	}
	for _, n := range append(append([]string(nil), ja.Nodes...), moved) {
		for _, g := range h.loops.cfg.Fabric.PortsOf(n) {
			parts[0].Members = append(parts[0].Members, sm.Member{GUID: g, Membership: sm.Full})
		}
	}
	bad, err := opensm.Render(parts, sm.TenantIsolation)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.loops.parts.watchFile(ctx, d)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.loops.parts.Drifts() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the tampered file was never noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if now, _ := os.ReadFile(path); string(now) != string(good) {
		t.Fatalf("the file was not rewritten:\n%s", now)
	}
	l := h.ledger(moved)
	if e := l[len(l)-1]; e.Step != fsm.DriftStep || e.Tenant != "bob" || !strings.Contains(e.Evidence, "partitions file drift") {
		t.Fatalf("%s's last entry %+v", moved, e)
	}
	for _, n := range ja.Nodes {
		if l := h.ledger(n); len(l) > 0 && l[len(l)-1].Step == fsm.DriftStep {
			t.Errorf("%s, whose membership did not change, got a drift entry", n)
		}
	}
}

func TestMembershipDiff(t *testing.T) {
	p := func(k sm.PKey, gs ...sm.GUID) sm.Partition {
		out := sm.Partition{PKey: k}
		for _, g := range gs {
			out.Members = append(out.Members, sm.Member{GUID: g, Membership: sm.Full})
		}
		return out
	}
	a := []sm.Partition{p(0x10, 1, 2), p(0x11, 3)}
	b := []sm.Partition{p(0x10, 1, 2, 3)}
	if got := membershipDiff(a, b); len(got) != 1 || got[0] != 3 {
		t.Fatalf("diff %v, want [3]", got)
	}
	if got := membershipDiff(a, a); len(got) != 0 {
		t.Fatalf("diff of equal sets %v", got)
	}
}
