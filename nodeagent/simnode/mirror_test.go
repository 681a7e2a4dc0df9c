package simnode

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
)

// observing counts which ports a driver was asked to observe, and can
// fail to read some.
type observing struct {
	sm.Driver
	mu      sync.Mutex
	asked   [][]sm.GUID
	unreach map[sm.GUID]bool
}

func (o *observing) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	o.mu.Lock()
	o.asked = append(o.asked, append([]sm.GUID(nil), ports...))
	o.mu.Unlock()
	var reach []sm.GUID
	for _, g := range ports {
		if !o.unreach[g] {
			reach = append(reach, g)
		}
	}
	t, err := o.Driver.Observe(ctx, reach)
	if len(reach) < len(ports) {
		err = errors.Join(err, errors.New("some ports unreachable"))
	}
	return t, err
}

func (o *observing) lastAsked() []sm.GUID {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.asked[len(o.asked)-1]
}

func testFleet(t *testing.T, n int) (*Fleet, []sm.GUID) {
	t.Helper()
	var specs []Spec
	var ports []sm.GUID
	for i := 1; i <= n; i++ {
		g := sm.GUID(0x0002c90300000001 + uint64(i)*0x10)
		specs = append(specs, Spec{Name: "node00" + string(rune('0'+i)), Ports: []sm.GUID{g}})
		ports = append(ports, g)
	}
	f, err := NewFleet(testConfig(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	return f, ports
}

// TestMirrorFollowsTheSM: after each Apply the nodes' sysfs holds the
// tables the SM reports: a job's key as a full member on its nodes only,
// gone again after the partition is removed. Only the ports that can have
// changed are read back after the first Apply, and a port that could not
// be read is read again next time.
func TestMirrorFollowsTheSM(t *testing.T) {
	f, ports := testFleet(t, 3)
	drv := &observing{Driver: simsm.New(ports, sm.TenantIsolation), unreach: map[sm.GUID]bool{}}
	m := &Mirror{Driver: drv, Nodes: f, Ports: f.Ports()}
	ctx := context.Background()
	job := []sm.Partition{{Name: "job1", PKey: 0x1001, Members: []sm.Member{{GUID: ports[0], Membership: sm.Full}, {GUID: ports[1], Membership: sm.Full}}}}

	if err := m.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := drv.lastAsked(); !slices.Equal(got, ports) {
		t.Fatalf("first Apply read %v, want every port %v", got, ports)
	}
	drv.unreach[ports[1]] = true
	if err := m.Apply(ctx, job); err != nil {
		t.Fatal(err)
	}
	if got := drv.lastAsked(); !slices.Equal(got, ports[:2]) {
		t.Fatalf("read %v, want the job's ports %v", got, ports[:2])
	}
	if got := readPKeys(t, f.Nodes[0], 1); got[0] != "0x7fff" || got[1] != "0x9001" {
		t.Fatalf("node 1 pkeys %v, want the default then the job key as a full member", got[:3])
	}
	if got := readPKeys(t, f.Nodes[1], 1); got[1] != "0x0000" {
		t.Fatalf("node 2's port was unreachable, yet its pkeys changed: %v", got[:3])
	}
	if got := readPKeys(t, f.Nodes[2], 1); got[1] != "0x0000" {
		t.Fatalf("node 3 is not in the job: pkeys %v", got[:3])
	}

	delete(drv.unreach, ports[1])
	if err := m.Apply(ctx, job); err != nil { // the same set again (drift repair)
		t.Fatal(err)
	}
	if got := readPKeys(t, f.Nodes[1], 1); got[1] != "0x9001" {
		t.Fatalf("node 2 not mirrored once reachable: %v", got[:3])
	}
	if err := m.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := drv.lastAsked(); !slices.Equal(got, ports[:2]) {
		t.Fatalf("read %v after the job, want its former ports %v", got, ports[:2])
	}
	for i, n := range f.Nodes {
		if got := readPKeys(t, n, 1); got[0] != "0x7fff" || got[1] != "0x0000" {
			t.Fatalf("node %d still holds %v after the partition was removed", i+1, got[:3])
		}
	}
}

// TestMirrorUsesRawTables: with a raw reader (ibsim's), slot indexes and
// holes come from the fabric, not from the sorted set.
func TestMirrorUsesRawTables(t *testing.T) {
	f, ports := testFleet(t, 1)
	raw := func(_ context.Context, ps []sm.GUID) (map[sm.GUID][]uint16, error) {
		out := map[sm.GUID][]uint16{}
		for _, g := range ps {
			out[g] = []uint16{0x7fff, 0x0000, 0x0000, 0x8005}
		}
		return out, nil
	}
	m := &Mirror{Driver: simsm.New(ports, sm.TenantIsolation), Read: raw, Nodes: f, Ports: f.Ports()}
	if err := m.Apply(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := readPKeys(t, f.Nodes[0], 1); got[1] != "0x0000" || got[3] != "0x8005" {
		t.Fatalf("pkeys %v, want the fabric's slots", got[:4])
	}
}

// TestMirrorAfterFailedApply: a failed Apply is returned as is, and the
// nodes still show what the fabric holds.
func TestMirrorAfterFailedApply(t *testing.T) {
	f, ports := testFleet(t, 1)
	s := simsm.New(ports, sm.TenantIsolation)
	m := &Mirror{Driver: s, Nodes: f, Ports: f.Ports()}
	s.FailApply = errors.New("sm down")
	if err := m.Apply(context.Background(), nil); err == nil || err.Error() != "sm down" {
		t.Fatalf("Apply: %v, want the driver's error", err)
	}
	if got := readPKeys(t, f.Nodes[0], 1); got[0] != "0x7fff" {
		t.Fatalf("pkeys %v", got[:2])
	}
}
