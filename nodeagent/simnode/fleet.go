package simnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Fleet is the simulated nodes of one cluster, each with its agent
// running in this process.
type Fleet struct {
	Nodes  []*Node
	byPort map[sm.GUID]*Node
	cfg    Config

	wg   sync.WaitGroup
	mu   sync.Mutex
	errs map[string]error // agents that stopped with an error, by node
}

// NewFleet builds every node's hardware (see NewNode); Start runs their
// agents. LIDs are given in order from 2 (the SM has 1).
func NewFleet(cfg Config, specs []Spec) (*Fleet, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &Fleet{cfg: cfg, byPort: map[sm.GUID]*Node{}, errs: map[string]error{}}
	lid := uint16(2)
	for _, s := range specs {
		n, err := NewNode(cfg, s, lid)
		if err != nil {
			return nil, err
		}
		for _, g := range s.Ports {
			if other, dup := f.byPort[g]; dup {
				return nil, fmt.Errorf("simnode: port %s is on both %s and %s", g, other.Name, s.Name)
			}
			f.byPort[g] = n
		}
		lid += uint16(len(s.Ports))
		f.Nodes = append(f.Nodes, n)
	}
	return f, nil
}

// Start runs every node's agent in its own goroutine until ctx ends,
// enrolling those without a certificate with tokens from e. An
// agent that stops with an error (an enrollment refused, an invalid
// configuration) is logged and reported by Err.
//
// The agents start startStagger apart rather than all at once: hundreds
// of enrollments, TLS handshakes and gossip joins (each join a full state
// exchange with the server's member) in the same instant overflowed the
// gossip queues of a 512-node fleet; spread over a moment, the same work
// goes through.
func (f *Fleet) Start(ctx context.Context, e Enroller) {
	for i, n := range f.Nodes {
		if f.cfg.Power {
			n.powerUp(ctx, e, func(err error) { f.agentFailed(n, err) })
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i) * startStagger):
			}
			if err := n.Start(ctx, e); err != nil {
				f.agentFailed(n, err)
			}
		}()
	}
}

func (f *Fleet) agentFailed(n *Node, err error) {
	f.cfg.Logger.Error("simulated node's agent stopped", "node", n.Name, "err", err)
	f.mu.Lock()
	f.errs[n.Name] = err
	f.mu.Unlock()
}

// startStagger is the gap between two agents' starts (512 agents: 2.5 s).
const startStagger = 5 * time.Millisecond

// Wait returns once every agent has stopped (after ctx of Start ended,
// each agent leaves the gossip pool first).
func (f *Fleet) Wait() {
	f.wg.Wait()
	for _, n := range f.Nodes {
		n.waitOff()
	}
}

// Err joins the errors of agents that stopped with one, by node name.
func (f *Fleet) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.errs))
	for n := range f.errs {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		errs = append(errs, f.errs[n])
	}
	return errors.Join(errs...)
}

// WaitEnrolled waits until every node's agent holds a certificate, or an
// agent failed, or ctx ends.
func (f *Fleet) WaitEnrolled(ctx context.Context) error {
	for {
		missing := 0
		for _, n := range f.Nodes {
			if !n.Enrolled() {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if err := f.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d simulated nodes not enrolled: %w", missing, len(f.Nodes), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Node returns the node named name, or nil.
func (f *Fleet) Node(name string) *Node {
	for _, n := range f.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Ports lists every node's port GUIDs.
func (f *Fleet) Ports() []sm.GUID {
	out := make([]sm.GUID, 0, len(f.byPort))
	for g := range f.byPort {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WritePKeys writes port guid's P_Key table into the sysfs of the node
// that has the port (see Mirror).
func (f *Fleet) WritePKeys(guid sm.GUID, raw []uint16) error {
	n, ok := f.byPort[guid]
	if !ok {
		return fmt.Errorf("simnode: no simulated node has port %s", guid)
	}
	return n.WritePKeys(guid, raw)
}
