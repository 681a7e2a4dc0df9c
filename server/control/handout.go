package control

import (
	"context"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// The hand-out check (fsm/handout.go): before the scheduler's plan puts a
// job on a node with an agent, the node is re-checked right then (a few
// image blocks against the catalog, every firmware reading, no process
// of an earlier job, its own P_Key table). The plan waits for the checks
// of its nodes; the next pass, triggered by their results, allocates. A
// node that fails is quarantined and the next plan places the job
// elsewhere, or it waits.

// HandoutTaskPrefix starts the id of every hand-out check task, so the
// gateway routes its result to fsm.HandoutChecked.
const HandoutTaskPrefix = "handout/"

// handoutMargin keeps a passed check from being used right at the end of
// model.HandoutFresh, where the allocation could commit a moment too late.
const handoutMargin = 5 * time.Second

// connectedAgents is implemented by dispatchers that know which agents
// hold a stream to this server (agentgw.Gateway).
type connectedAgents interface {
	Connected(node string) bool
}

// schedulable drops agent nodes whose agent is not connected to this
// leader from the scheduler's view: no check could reach them, and the
// plan would wait for them instead of placing the job elsewhere.
func (c *jobController) schedulable(nodes []*model.Node) []*model.Node {
	ca, ok := c.cfg.Agents.(connectedAgents)
	if !ok {
		return nodes
	}
	var out []*model.Node // nil until the first node is dropped: usually none is
	for i, n := range nodes {
		if n.Agent != nil && n.State == model.NodeReady && !ca.Connected(n.Name) {
			if out == nil {
				out = append(make([]*model.Node, 0, len(nodes)-1), nodes[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, n)
		}
	}
	if out == nil {
		return nodes
	}
	return out
}

// handoutReady reports whether every agent node of a planned allocation
// passed a fresh hand-out check that is still its latest ledger entry,
// starting checks for those that have none.
func (c *jobController) handoutReady(ctx context.Context, all []*model.Node, nodes []string, now time.Time) bool {
	if c.cfg.Agents == nil {
		return true
	}
	ready := true
	for _, name := range nodes {
		n := nodeNamed(all, name) // passnodes.go
		if n == nil || n.Agent == nil {
			continue
		}
		h := n.Handout
		switch {
		case h != nil && !h.Passed.IsZero() && h.Seq == n.LedgerSeq && now.Sub(h.Passed) < model.HandoutFresh-handoutMargin:
			continue
		case h != nil && h.Passed.IsZero():
			ready = false // running: handoutChecks dispatches and times it out
		case c.steps.busy(stepKey{node: name}):
			// Its cleaning chain is ending, and starts the check itself
			// (precheckHandout): two checks at once would both go to the
			// agent, and one record be refused. The chain's end is a pass.
			ready = false
		default:
			ready = false
			c.startHandout(ctx, n, now)
		}
	}
	return ready
}

// startHandout records a new check with its challenge and sends it.
func (c *jobController) startHandout(ctx context.Context, n *model.Node, now time.Time) {
	ch := &model.Challenge{Nonce: newNonce(), Pins: c.pinsByPSID(), PKeys: c.parts != nil}
	if len(ch.Pins) > 0 {
		ch.ConfigKeys = seenKeys(n.FirmwareSeen) // settings ibex verified there: still at their defaults (fwprofile.go)
	}
	if n.Image != "" {
		var img model.Image
		var ok bool
		c.cfg.Store.Read(func(st *fsm.State) { img, ok = st.Images[n.Image] })
		if ok {
			imageBlocksChallenge(ch, img, handoutBlocks)
		}
	}
	h := model.Handout{ID: fmt.Sprintf("%s%s/%d", HandoutTaskPrefix, n.Name, now.UnixNano()), Challenge: ch, Started: now}
	if err := c.recordAndSend(ctx, &fsm.StartHandoutCheck{Node: n.Name, Check: h}, n.Name, c.handoutTask(&h)); err != nil { // ahead.go
		c.log.Warn("start hand-out check", "node", n.Name, "err", err)
	}
}

// handoutChecks keeps the running checks going: each is sent again (a
// reconnected stream needs it; the agent answers a repeat from its
// journal) and abandoned after model.HandoutTimeout without an answer.
func (c *jobController) handoutChecks(ctx context.Context, nodes []*model.Node, now time.Time) {
	if c.cfg.Agents == nil {
		return
	}
	for _, n := range nodes {
		h := n.Handout
		if h == nil || !h.Passed.IsZero() {
			continue
		}
		if now.Sub(h.Started) > model.HandoutTimeout {
			cmd := &fsm.HandoutChecked{Node: n.Name, ID: h.ID, Abandoned: true, Time: now}
			if _, err := c.cfg.Store.Apply(ctx, cmd); err != nil {
				c.log.Warn("abandon hand-out check", "node", n.Name, "err", err)
			}
			continue
		}
		c.dispatchHandout(n.Name, h)
	}
}

func (c *jobController) dispatchHandout(node string, h *model.Handout) {
	c.cfg.Agents.Dispatch(node, c.handoutTask(h))
}

// handoutTask is the wire task of check h.
func (c *jobController) handoutTask(h *model.Handout) *pb.AgentTask {
	t := &pb.AgentTask{Id: h.ID, Term: c.cfg.Store.Term(), ChallengeJson: challengeJSON(h.Challenge),
		Kind: &pb.AgentTask_Handout{Handout: &pb.HandoutTask{Pins: c.wirePins()}}}
	if ref := h.Challenge.Image; ref != "" {
		var img model.Image
		c.cfg.Store.Read(func(st *fsm.State) { img = st.Images[ref] })
		t.GetHandout().Image = wireImage(img)
	}
	return t
}
