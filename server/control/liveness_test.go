package control

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// fakeGossip is a membership the test edits.
type fakeGossip struct {
	mu     sync.Mutex
	joined bool
	alive  map[string]bool
}

func (g *fakeGossip) Alive() (map[string]bool, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]bool{}
	for k, v := range g.alive {
		out[k] = v
	}
	return out, g.joined
}

func (h *harness) enroll(node string) {
	h.t.Helper()
	exp := h.store.Now().Add(time.Hour)
	h.apply(&fsm.CreateJoinToken{Node: node, Hash: "tok-" + node, Expires: exp})
	h.apply(&fsm.Enroll{Node: node, TokenHash: "tok-" + node, CertSerial: "01", Time: h.store.Now()})
}

func TestLiveness(t *testing.T) {
	for _, tc := range []struct {
		name string
		// steps are the memberships seen by consecutive passes.
		steps    []map[string]bool
		joined   bool
		want     model.NodeState
		wantWhy  string
		notAgent bool
	}{
		{name: "alive, then gone: down with the reason", joined: true,
			steps: []map[string]bool{{"node001": true}, {}}, want: model.NodeDown, wantWhy: "agent left the gossip pool"},
		{name: "never seen alive by this leader: not marked down", joined: true,
			steps: []map[string]bool{{}, {}}, want: model.NodeCleaning},
		{name: "down, then back: up again, to cleaning", joined: true,
			steps: []map[string]bool{{"node001": true}, {}, {"node001": true}}, want: model.NodeCleaning},
		{name: "this server has not joined the pool: nothing happens", joined: false,
			steps: []map[string]bool{{"node001": true}, {}}, want: model.NodeCleaning},
		{name: "nodes without an agent are not gossip's business", joined: true, notAgent: true,
			steps: []map[string]bool{{"node001": true}, {}}, want: model.NodeReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, pkeypool.Pool{}, false)
			if !tc.notAgent {
				h.enroll("node001")
			}
			g := &fakeGossip{joined: tc.joined}
			h.loops.cfg.Gossip = g
			seen := map[string]time.Time{}
			for _, alive := range tc.steps {
				g.mu.Lock()
				g.alive = alive
				g.mu.Unlock()
				h.store.Advance(250 * time.Millisecond)
				h.loops.livenessPass(t.Context(), seen)
			}
			n := h.node("node001")
			if n.State != tc.want || !strings.Contains(n.Reason, tc.wantWhy) {
				t.Fatalf("node001 %s (%q), want %s (%q)", n.State, n.Reason, tc.want, tc.wantWhy)
			}
		})
	}
}
