package control

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Hygiene of a node with an agent: between tenants the agent erases the
// disk, re-verifies (and if needed re-pins) HCA firmware, and writes the
// cluster's image with a digest check; the partition controller confirms
// the last tenant's key is gone. Each step is an agent task whose result
// lands in the ledger; the node is ready only when all are there.

// maxTaskFailures is how often a step may fail for one cleaning before the
// node is quarantined for an operator.
const maxTaskFailures = 3

func (c *jobController) cleanAgentNode(ctx context.Context, n *model.Node, at uint64) {
	if n.Task != nil {
		if t := c.agentTask(n, n.Task); t != nil {
			c.cfg.Agents.Dispatch(n.Name, t)
		}
		return
	}
	for _, kind := range c.steps() {
		done := slices.Contains(n.Cleaning, kind)
		if kind == "image" {
			done = n.Image == c.cfg.DefaultImage
		}
		if done {
			continue
		}
		key := fmt.Sprintf("%s/%d/%s", n.Name, n.LastJobID, kind)
		if c.failures[key] >= maxTaskFailures {
			reason := fmt.Sprintf("%s failed %d times while cleaning after job %d (see `ibex nodes history %s`)", kind, maxTaskFailures, n.LastJobID, n.Name)
			if _, err := c.cfg.Store.Apply(ctx, &fsm.QuarantineNode{Node: n.Name, Reason: reason, Time: c.cfg.Store.Now()}); err != nil {
				c.log.Warn("quarantine", "node", n.Name, "err", err)
			}
			delete(c.failures, key)
			return
		}
		if c.lastTask[n.Name] != "" && strings.HasPrefix(c.lastTask[n.Name], key+"/") {
			c.failures[key]++ // the previous attempt at this step ended without success
		}
		id := fmt.Sprintf("%s/%d", key, at)
		c.lastTask[n.Name] = id
		task := model.NodeTask{ID: id, Kind: kind, Started: c.cfg.Store.Now()}
		if kind == "image" {
			task.Image = c.cfg.DefaultImage
		}
		if _, err := c.cfg.Store.Apply(ctx, &fsm.StartTask{Node: n.Name, Task: task}); err != nil {
			c.log.Warn("start task", "node", n.Name, "task", id, "err", err)
		}
		return
	}
	keyEv, gone := "no fabric", true
	if c.parts != nil {
		keyEv, gone = c.parts.KeyGone(n)
	}
	if !gone {
		return
	}
	ev := fmt.Sprintf("steps %s recorded in the ledger; %s", strings.Join(c.steps(), ", "), keyEv)
	cmd := &fsm.NodeCleaned{Node: n.Name, JobID: n.LastJobID, Evidence: ev, Image: c.cfg.DefaultImage, Time: c.cfg.Store.Now()}
	if _, err := c.cfg.Store.Apply(ctx, cmd); err != nil {
		c.log.Warn("node cleaned", "node", n.Name, "err", err)
	}
}

func (c *jobController) steps() []string {
	steps := append([]string(nil), fsm.RequiredCleaning...)
	if c.cfg.DefaultImage != "" {
		steps = append(steps, "image")
	}
	return steps
}

// agentTask builds the wire task for a recorded node task.
func (c *jobController) agentTask(n *model.Node, t *model.NodeTask) *pb.AgentTask {
	out := &pb.AgentTask{Id: t.ID}
	switch t.Kind {
	case "erase":
		out.Kind = &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}
	case "firmware":
		ft := &pb.FirmwareTask{}
		for _, p := range c.cfg.FirmwarePins {
			ft.Pins = append(ft.Pins, &pb.FirmwarePin{Psid: p.PSID, Version: p.Version, Sha256: p.SHA256, File: p.File})
		}
		out.Kind = &pb.AgentTask_Firmware{Firmware: ft}
	case "image":
		var img model.Image
		var ok bool
		c.cfg.Store.Read(func(st *fsm.State) { img, ok = st.Images[t.Image] })
		if !ok {
			c.log.Warn("image not in the catalog", "node", n.Name, "image", t.Image)
			return nil
		}
		out.Kind = &pb.AgentTask_Image{Image: &pb.ImageTask{Image: &pb.Image{Name: img.Name, Version: img.Version, Size: img.Size, Sha256: img.SHA256, SourceUrl: img.SourceURL}}}
	}
	return out
}
