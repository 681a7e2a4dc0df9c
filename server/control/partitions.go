package control

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Partitions is the leader's reconcile loop for InfiniBand
// partitions: desired partitions (one per allocation, from the state) →
// subnet-manager driver → observed P_Key tables → PartitionReady in the
// state. Many allocations changing together cost one Apply per pass,
// because Apply always takes the whole desired set. It also remembers what
// it observed, so cleaning can prove a released key is gone from a node.
type Partitions struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	observed map[sm.GUID]observation
	lastSet  string // fingerprint of the last applied desired set
	lastOK   time.Time

	reconfigs atomic.Int64 // Applies that changed the desired set
	drifts    atomic.Int64 // drift repairs (partition_drift.go)
	// applyMu keeps reconcile's Apply and a drift repair's apart.
	applyMu sync.Mutex
	// onReady launches a job whose partition was just confirmed
	// (fastpath.go); set by New.
	onReady func(job uint64)
	// kick asks for a pass now (buffered, 1): an allocation with a key was
	// committed (Kick).
	kick chan struct{}
}

// Kick asks the loop for a pass now rather than when its pacing allows:
// an allocation with a partition key was committed and its job waits for
// the key to be programmed and confirmed (fastpath.go). Kicks that come
// while a pass runs are one pass after it, which takes every allocation
// committed so far.
func (p *Partitions) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

type observation struct {
	table sm.Table
	at    time.Time
}

// driftEvery is how often an unchanged desired set is applied again, so
// changes made outside ibex (or a restarted SM) are repaired.
const driftEvery = 5 * time.Second

func newPartitions(cfg Config) *Partitions {
	return &Partitions{cfg: cfg, log: cfg.Log.With("component", "partitions"), observed: map[sm.GUID]observation{},
		kick: make(chan struct{}, 1)}
}

func (p *Partitions) run(ctx context.Context) {
	const minPass, minGap = 100 * time.Millisecond, 10 * time.Millisecond
	if fc := fileCheckerOf(p.cfg.SM); fc != nil {
		go p.watchFile(ctx, fc)
	}
	for {
		changed := p.cfg.Store.Changed()
		start := time.Now()
		p.reconcile(ctx)
		took := time.Since(start)
		kicked := false
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-p.kick:
			kicked = true
		case <-time.After(time.Second):
		}
		// An allocation waiting for its partition goes next, after the
		// least gap; other changes are paced (passGap).
		if !kicked {
			select {
			case <-p.kick:
				kicked = true
			default:
			}
		}
		gap := passGap(took, minGap, minPass)
		if kicked {
			gap = minGap
		}
		if wait := gap - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

func (p *Partitions) reconcile(ctx context.Context) {
	w := p.cfg.Store.Work(0)
	desired := p.desired(w)
	fp := fingerprint(desired)
	p.mu.Lock()
	due := fp != p.lastSet || time.Since(p.lastOK) > driftEvery
	p.mu.Unlock()
	if due {
		p.applyMu.Lock()
		if err := p.cfg.SM.Apply(ctx, desired); err != nil {
			p.log.Warn("apply partitions", "err", err)
		} else {
			p.mu.Lock()
			if fp != p.lastSet {
				p.reconfigs.Add(1)
				p.cfg.Metrics.PartitionReconfigs.Inc()
			}
			p.lastSet, p.lastOK = fp, time.Now()
			p.mu.Unlock()
		}
		p.applyMu.Unlock()
	}
	var ports []sm.GUID
	for _, j := range w.Active {
		ports = append(ports, p.cfg.Fabric.PortsOf(j.Nodes...)...)
	}
	for _, n := range w.Nodes {
		if n.State == model.NodeCleaning {
			ports = append(ports, p.cfg.Fabric.PortsOf(n.Name)...)
		}
	}
	if len(ports) == 0 {
		return
	}
	tables, err := p.cfg.SM.Observe(ctx, ports)
	if err != nil {
		p.log.Warn("observe P_Key tables", "err", err)
	}
	now := time.Now().UTC()
	p.mu.Lock()
	for g, t := range tables {
		p.observed[g] = observation{table: t, at: now}
	}
	p.mu.Unlock()
	p.checkTables(ctx, desired, tables)
	// The confirmations are committed side by side, not one after
	// another: the cluster's group commit puts them into one raft entry,
	// and each launches its job as it commits (onReady). One at a time, a
	// pass that confirmed many allocations took a disk sync per job, and
	// the next pass (and every job waiting for its partition) waited
	// three times as long (passGap). The pass ends when they are
	// committed, as before.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, j := range w.Active {
		if j.PKey == 0 || j.PartitionReady {
			continue
		}
		want := sm.MakeEntry(sm.PKey(j.PKey), sm.Full)
		ready := true
		for _, g := range p.cfg.Fabric.PortsOf(j.Nodes...) {
			if t, ok := tables[g]; !ok || !t.Has(want) {
				ready = false
				break
			}
		}
		if ready {
			cmd := &fsm.PartitionReady{JobID: j.ID, PKey: j.PKey, Time: p.cfg.Store.Now()}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.cfg.Store.Apply(ctx, cmd); err != nil {
					p.log.Warn("partition ready", "job", cmd.JobID, "err", err)
					return
				}
				if p.onReady != nil {
					p.onReady(cmd.JobID)
				}
			}()
		}
	}
}

// desired is one partition per allocation with a key: every port of the
// job's nodes a full member.
func (p *Partitions) desired(w *fsm.Work) []sm.Partition {
	byKey := map[uint16]*sm.Partition{}
	var out []sm.Partition
	for _, j := range w.Active {
		if j.PKey == 0 {
			continue
		}
		part, ok := byKey[j.PKey]
		if !ok {
			// A key shared by one tenant's allocations is one partition.
			byKey[j.PKey] = &sm.Partition{Name: fmt.Sprintf("job%d", j.ID), PKey: sm.PKey(j.PKey)}
			part = byKey[j.PKey]
		}
		for _, g := range p.cfg.Fabric.PortsOf(j.Nodes...) {
			part.Members = append(part.Members, sm.Member{GUID: g, Membership: sm.Full})
		}
	}
	for _, part := range byKey {
		out = append(out, *part)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PKey < out[j].PKey })
	return out
}

func fingerprint(ps []sm.Partition) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s=%d:", p.Name, p.PKey)
		for _, m := range p.Members {
			fmt.Fprintf(&b, "%x/%d,", uint64(m.GUID), m.Membership)
		}
		b.WriteByte(';')
	}
	return b.String()
}

// KeyGone reports whether every port of a cleaning node was observed,
// after its job ended, without the job's partition key, with the
// observation that NodeCleaned carries (the FSM checks it again).
func (p *Partitions) KeyGone(n *model.Node) (model.PKeyCheck, bool) {
	check := model.PKeyCheck{PKey: n.LastPKey}
	if n.LastPKey == 0 {
		return check, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.cfg.Fabric.PortsOf(n.Name) {
		o, ok := p.observed[g]
		if !ok || !o.at.After(n.StateSince) || o.table.HasKey(sm.PKey(n.LastPKey)) {
			return check, false
		}
		check.Ports = append(check.Ports, model.PortCheck{GUID: g.String(), ObservedAt: o.at, Absent: true, Table: o.table.String()})
	}
	return check, len(check.Ports) > 0
}
