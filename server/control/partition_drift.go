package control

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/opensm"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Partition drift: the fabric's partitions changed by someone other than
// ibex. Two watchers look for it, each well within a second:
//
//   - the partitions file (OpenSM's partitions.conf) is compared with what
//     the driver last installed every fileWatchEvery: a tampered or broken
//     file, the fastest way to move a node into another tenant's partition,
//     is rewritten and OpenSM signalled at once;
//   - the P_Key tables of the ports of every allocation and every cleaning
//     node, read by each reconcile pass (at least once a second), are
//     compared with what the allocations say.
//
// Either way the desired set is applied again (which rewrites and
// signals), the event is logged, and every node whose ports it touched
// gets a "partition-drift" ledger entry saying what was found, when, and
// how long the repair took.

// fileWatchEvery is how often the partitions file is compared.
const fileWatchEvery = 200 * time.Millisecond

// fileChecker is a driver that owns a partitions file (opensm.Driver).
type fileChecker interface {
	CheckFile() (*opensm.FileDrift, error)
}

// unwrapper is a driver wrapping another (sm.Coalescer, simnode.Mirror).
type unwrapper interface{ Unwrap() sm.Driver }

func fileCheckerOf(d sm.Driver) fileChecker {
	for d != nil {
		if fc, ok := d.(fileChecker); ok {
			return fc
		}
		u, ok := d.(unwrapper)
		if !ok {
			return nil
		}
		d = u.Unwrap()
	}
	return nil
}

// watchFile compares the partitions file until ctx ends.
func (p *Partitions) watchFile(ctx context.Context, fc fileChecker) {
	t := time.NewTicker(fileWatchEvery)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		drift, err := fc.CheckFile()
		if err != nil {
			if err.Error() != lastErr {
				p.log.Warn("cannot check the partitions file", "err", err)
			}
			lastErr = err.Error()
			continue
		}
		lastErr = ""
		if drift == nil {
			continue
		}
		var guids []sm.GUID
		if drift.ParseErr == nil {
			guids = membershipDiff(drift.Found, drift.Installed)
		}
		p.repair(ctx, time.Now(), "partitions file", drift.String(), guids, drift.ParseErr != nil)
	}
}

// membershipDiff lists the ports whose partitions differ between a and b.
func membershipDiff(a, b []sm.Partition) []sm.GUID {
	set := func(ps []sm.Partition) map[sm.GUID][]string {
		m := map[sm.GUID][]string{}
		for _, p := range ps {
			for _, mem := range p.Members {
				m[mem.GUID] = append(m[mem.GUID], fmt.Sprintf("%s/%s", p.PKey, mem.Membership))
			}
		}
		for g := range m {
			sort.Strings(m[g])
		}
		return m
	}
	ma, mb := set(a), set(b)
	var out []sm.GUID
	for g, v := range ma {
		if !slices.Equal(v, mb[g]) {
			out = append(out, g)
		}
	}
	for g := range mb {
		if _, ok := ma[g]; !ok {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// tableDrift compares observed tables with what desired gives them.
func tableDrift(desired []sm.Partition, tables map[sm.GUID]sm.Table) (guids []sm.GUID, detail string) {
	ports := make([]sm.GUID, 0, len(tables))
	for g := range tables {
		ports = append(ports, g)
	}
	slices.Sort(ports)
	// The rules every driver of ibex applies (sm.TenantIsolation).
	want := sm.Expected(desired, sm.TenantIsolation, ports)
	var diffs []string
	for _, g := range ports {
		if w, ok := want[g]; ok && !tables[g].Equal(w) {
			guids = append(guids, g)
			if len(diffs) < 8 {
				diffs = append(diffs, fmt.Sprintf("port %s: %s", g, w.Diff(tables[g])))
			}
		}
	}
	return guids, strings.Join(diffs, "; ")
}

// repair applies the desired set again and records the drift: in the log,
// and in the ledger of every node owning one of guids (every node when
// all is set: a file OpenSM cannot parse may make every port a full member
// of the default partition).
func (p *Partitions) repair(ctx context.Context, detected time.Time, what, detail string, guids []sm.GUID, all bool) {
	p.applyMu.Lock()
	w := p.cfg.Store.Work(0)
	desired := p.desired(w)
	err := p.cfg.SM.Apply(ctx, desired)
	if err == nil {
		p.mu.Lock()
		p.lastSet, p.lastOK = fingerprint(desired), time.Now()
		p.mu.Unlock()
	}
	p.applyMu.Unlock()
	took := time.Since(detected)
	// Counted once the repair is recorded (or found nothing to record):
	// whoever waits on Drifts then sees the ledger entry too.
	defer p.drifts.Add(1)
	verdict := fmt.Sprintf("re-applied the %d partitions of the allocations in %s", len(desired), took.Round(time.Millisecond))
	if err != nil {
		verdict = fmt.Sprintf("re-applying the allocations' partitions failed after %s: %v", took.Round(time.Millisecond), err)
	}
	p.log.Warn("partition drift", "what", what, "detail", detail, "ports", len(guids), "repair", verdict)
	owner := map[sm.GUID]string{}
	var names []string
	for _, n := range w.Nodes {
		for _, g := range p.cfg.Fabric.PortsOf(n.Name) {
			owner[g] = n.Name
		}
		if all {
			names = append(names, n.Name)
		}
	}
	if !all {
		seen := map[string]bool{}
		for _, g := range guids {
			if n, ok := owner[g]; ok && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	ev := fmt.Sprintf("%s drift detected at %s: %s; %s", what, detected.UTC().Format(time.RFC3339Nano), detail, verdict)
	if len(ev) > 16<<10 {
		ev = ev[:16<<10-6] + " [...]"
	}
	cmd := &fsm.PartitionDrift{Nodes: names, Evidence: ev, Repaired: err == nil, Time: p.cfg.Store.Now()}
	if _, err := p.cfg.Store.Apply(ctx, cmd); err != nil {
		p.log.Warn("record partition drift", "err", err)
	}
}

// Drifts counts drift repairs since the loop started (tests, metrics),
// each counted after its ledger entry was applied.
func (p *Partitions) Drifts() int64 { return p.drifts.Load() }

// checkTables is reconcile's drift check of the tables it observed; only
// while the last Apply of this very desired set succeeded (otherwise the
// fabric is still converging, or the SM is down and jobs wait anyway).
func (p *Partitions) checkTables(ctx context.Context, desired []sm.Partition, tables map[sm.GUID]sm.Table) {
	p.mu.Lock()
	applied := p.lastSet == fingerprint(desired)
	p.mu.Unlock()
	if !applied || len(tables) == 0 {
		return
	}
	if guids, detail := tableDrift(desired, tables); len(guids) > 0 {
		p.repair(ctx, time.Now(), "P_Key tables", detail, guids, false)
	}
}
