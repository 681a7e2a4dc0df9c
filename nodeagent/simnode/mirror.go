package simnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// RawTables reads ports' P_Key tables from the fabric as raw slots, in
// index order with 0x0000 for an empty slot: ibsim.Fabric.PKeyTables.
type RawTables func(ctx context.Context, ports []sm.GUID) (map[sm.GUID][]uint16, error)

// PKeyWriter stores a port's P_Key table where its node sees it (Fleet:
// the node's sysfs).
type PKeyWriter interface {
	WritePKeys(guid sm.GUID, raw []uint16) error
}

// Mirror is the subnet manager of a simulated cluster seen from the
// nodes. It passes everything to Driver and, after every Apply, rewrites
// the simulated nodes' sysfs P_Key tables from the fabric's own view, so
// a node's agent checking its P_Key table reads what the SM's read-back
// reports, as on real hardware where both read the same port. It wraps
// only simulated fabrics (the in-memory simsm, OpenSM on ibsim): a real
// fabric's nodes have a kernel that does this.
//
// After an Apply it reads back only the ports that can have changed: the
// members of the previous and the new desired set, plus ports whose last
// mirror failed; every port after the first Apply.
type Mirror struct {
	Driver sm.Driver
	// Read reads raw tables (keeping the SM's slot indexes); nil means
	// Driver.Observe, whose sets are laid out by tableSlots.
	Read RawTables
	// Nodes receives the tables of Ports.
	Nodes PKeyWriter
	// Ports are the simulated nodes' ports; others (e.g. service nodes
	// the rules make full members) are not mirrored.
	Ports []sm.GUID
	Log   *slog.Logger

	mu      sync.Mutex
	synced  bool
	members map[sm.GUID]bool // simulated ports in a partition at the last Apply
	dirty   map[sm.GUID]bool // simulated ports whose last mirror failed
}

var _ sm.Driver = (*Mirror)(nil)

// Apply applies desired with Driver, then mirrors the tables, whether or
// not Apply succeeded: a failed Apply may have changed some ports, and
// the nodes see what the ports hold.
func (m *Mirror) Apply(ctx context.Context, desired []sm.Partition) error {
	err := m.Driver.Apply(ctx, desired)
	if merr := m.mirror(ctx, desired, err == nil); merr != nil && m.Log != nil {
		m.Log.Warn("simulated nodes' P_Key tables not all updated; retried after the next partition change", "err", merr)
	}
	return err
}

// Unwrap returns Driver (drift watchers look for its extras).
func (m *Mirror) Unwrap() sm.Driver { return m.Driver }

// Observe is Driver's.
func (m *Mirror) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	return m.Driver.Observe(ctx, ports)
}

func (m *Mirror) mirror(ctx context.Context, desired []sm.Partition, applied bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	known := make(map[sm.GUID]bool, len(m.Ports))
	for _, g := range m.Ports {
		known[g] = true
	}
	now := map[sm.GUID]bool{}
	for _, g := range sm.MemberGUIDs(desired) {
		if known[g] {
			now[g] = true
		}
	}
	read := map[sm.GUID]bool{}
	switch {
	case !m.synced:
		read = known
	default:
		for g := range m.members {
			read[g] = true
		}
		for g := range now {
			read[g] = true
		}
		for g := range m.dirty {
			read[g] = true
		}
	}
	if applied {
		m.members = now
	} else {
		// The fabric may hold either set: keep reading both.
		for g := range now {
			if m.members == nil {
				m.members = map[sm.GUID]bool{}
			}
			m.members[g] = true
		}
	}
	if len(read) == 0 {
		return nil
	}
	ports := make([]sm.GUID, 0, len(read))
	for g := range read {
		ports = append(ports, g)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	tables, rerr := m.read(ctx, ports)
	m.dirty = map[sm.GUID]bool{}
	var errs []error
	if rerr != nil {
		errs = append(errs, rerr)
	}
	for _, g := range ports {
		raw, ok := tables[g]
		if !ok {
			m.dirty[g] = true
			continue
		}
		if err := m.Nodes.WritePKeys(g, raw); err != nil {
			m.dirty[g] = true
			errs = append(errs, fmt.Errorf("port %s: %w", g, err))
		}
	}
	m.synced = true // failed ports are dirty: read again next time
	return errors.Join(errs...)
}

func (m *Mirror) read(ctx context.Context, ports []sm.GUID) (map[sm.GUID][]uint16, error) {
	if m.Read != nil {
		return m.Read(ctx, ports)
	}
	sets, err := m.Driver.Observe(ctx, ports)
	out := make(map[sm.GUID][]uint16, len(sets))
	for g, t := range sets {
		out[g] = tableSlots(t)
	}
	return out, err
}
