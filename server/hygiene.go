package server

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

func (c *controller) cleanAgentNode(ctx context.Context, n *model.Node, at uint64) {
	if n.Task != nil {
		if t := c.agentTask(n, n.Task); t != nil {
			c.s.agents.dispatch(n.Name, t)
		}
		return
	}
	for _, kind := range c.steps() {
		done := slices.Contains(n.Cleaning, kind)
		if kind == "image" {
			done = n.Image == c.s.cfg.DefaultImage
		}
		if done {
			continue
		}
		key := fmt.Sprintf("%s/%d/%s", n.Name, n.LastJobID, kind)
		if c.failures[key] >= maxTaskFailures {
			reason := fmt.Sprintf("%s failed %d times while cleaning after job %d (see `ibex nodes history %s`)", kind, maxTaskFailures, n.LastJobID, n.Name)
			if _, err := c.s.apply(ctx, &fsm.QuarantineNode{Node: n.Name, Reason: reason, Time: c.s.now()}); err != nil {
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
		task := model.NodeTask{ID: id, Kind: kind, Started: c.s.now()}
		if kind == "image" {
			task.Image = c.s.cfg.DefaultImage
		}
		if _, err := c.s.apply(ctx, &fsm.StartTask{Node: n.Name, Task: task}); err != nil {
			c.log.Warn("start task", "node", n.Name, "task", id, "err", err)
		}
		return
	}
	keyEv, gone := "no fabric", true
	if c.s.sm != nil {
		keyEv, gone = c.s.parts.keyGone(n)
	}
	if !gone {
		return
	}
	ev := fmt.Sprintf("steps %s recorded in the ledger; %s", strings.Join(c.steps(), ", "), keyEv)
	cmd := &fsm.NodeCleaned{Node: n.Name, JobID: n.LastJobID, Evidence: ev, Image: c.s.cfg.DefaultImage, Time: c.s.now()}
	if _, err := c.s.apply(ctx, cmd); err != nil {
		c.log.Warn("node cleaned", "node", n.Name, "err", err)
	}
}

func (c *controller) steps() []string {
	steps := append([]string(nil), fsm.RequiredCleaning...)
	if c.s.cfg.DefaultImage != "" {
		steps = append(steps, "image")
	}
	return steps
}

// agentTask builds the wire task for a recorded node task.
func (c *controller) agentTask(n *model.Node, t *model.NodeTask) *pb.AgentTask {
	out := &pb.AgentTask{Id: t.ID}
	switch t.Kind {
	case "erase":
		out.Kind = &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}
	case "firmware":
		ft := &pb.FirmwareTask{}
		for _, p := range c.s.cfg.FirmwarePins {
			ft.Pins = append(ft.Pins, &pb.FirmwarePin{Psid: p.PSID, Version: p.Version, Sha256: p.SHA256, File: p.File})
		}
		out.Kind = &pb.AgentTask_Firmware{Firmware: ft}
	case "image":
		var img model.Image
		var ok bool
		c.s.fsm.Read(func(st *fsm.State) { img, ok = st.Images[t.Image] })
		if !ok {
			c.log.Warn("image not in the catalog", "node", n.Name, "image", t.Image)
			return nil
		}
		out.Kind = &pb.AgentTask_Image{Image: &pb.ImageTask{Image: &pb.Image{Name: img.Name, Version: img.Version, Size: img.Size, Sha256: img.SHA256, SourceUrl: img.SourceURL}}}
	}
	return out
}

// FirmwarePin is one line of the firmware policy handed to agents.
type FirmwarePin struct {
	PSID    string `json:"psid"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	File    string `json:"file"`
}
