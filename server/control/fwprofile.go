package control

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Firmware profiles (model/fwprofile.go) in the leader's loops. A job
// that asks for an approved profile starts only once every node's agent
// applied it and the state machine accepted the readings (the node's
// FirmwareProfile); the node's cleaning afterwards runs the same firmware
// step as every cleaning, whose challenge then also names the settings
// the profile changed: they must be back at the firmware's defaults, and
// the baseline pin running, before the node is clean. Every firmware
// step asks for the readings as found, so firmware changed behind ibex's
// back (by a tenant with root, say) quarantines the node.

// profilesApplied reports whether every node of j runs j's firmware
// profile, starting or resending the profile task of those that do not.
// A node that cannot take it fails the job, with the reason.
func (c *jobController) profilesApplied(ctx context.Context, j *model.Job) bool {
	if j.FirmwareProfile == "" {
		return true
	}
	var prof model.FirmwareProfile
	var found bool
	var nodes []*model.Node
	c.cfg.Store.Read(func(st *fsm.State) {
		prof, found = st.FirmwareProfiles[j.FirmwareProfile]
		for _, name := range j.Nodes {
			if n := st.Nodes[name]; n != nil {
				nodes = append(nodes, n.Clone())
			}
		}
	})
	if !found {
		c.finish(ctx, j, model.JobFailed, nil, fmt.Sprintf("firmware profile %s was withdrawn before the job started", j.FirmwareProfile))
		return false
	}
	if prof.Kind == model.ProfileBIOS {
		return c.biosApplied(ctx, j, prof, nodes) // biosprofile.go
	}
	done := true
	for _, n := range nodes {
		if n.FirmwareProfile == j.FirmwareProfile {
			continue
		}
		done = false
		switch {
		case n.Agent == nil:
			c.finish(ctx, j, model.JobFailed, nil, fmt.Sprintf("node %s has no agent to apply firmware profile %s", n.Name, prof.Name))
			return false
		case n.Task != nil && n.Task.Kind == model.TaskFirmwareProfile:
			if t := c.agentTask(n, n.Task); t != nil {
				c.cfg.Agents.Dispatch(n.Name, t)
			}
		case n.Task != nil:
			// another task (a deployment's) still runs: wait for it
		case model.GaveUp(n, model.TaskFirmwareProfile):
			c.finish(ctx, j, model.JobFailed, nil, fmt.Sprintf("node %s: firmware profile %s failed (see `ibex nodes history %s`)", n.Name, prof.Name, n.Name))
			return false
		default:
			c.startProfileTask(ctx, n, j, prof)
		}
	}
	return done
}

// startProfileTask records the profile task with its challenge and sends it.
func (c *jobController) startProfileTask(ctx context.Context, n *model.Node, j *model.Job, prof model.FirmwareProfile) {
	pins := c.profilePins(prof)
	ch := &model.Challenge{Nonce: newNonce(), Pins: map[string]string{}, Before: true}
	for _, p := range pins {
		ch.Pins[p.PSID] = p.Version
	}
	for _, r := range prof.HCA {
		if len(r.Config) > 0 {
			if ch.Config == nil {
				ch.Config = map[string]map[string]string{}
			}
			ch.Config[r.PSID] = maps.Clone(r.Config)
		}
	}
	ch.ConfigKeys = seenKeys(n.FirmwareSeen)
	id := fmt.Sprintf("%s/%d/%s/%s", n.Name, j.ID, model.TaskFirmwareProfile, prof.Name)
	if fails := n.StepFailures[model.TaskFirmwareProfile]; fails > 0 {
		id += fmt.Sprintf("/%d", fails) // a retry is a new task, not the journalled one
	}
	task := model.NodeTask{ID: id, Kind: model.TaskFirmwareProfile, Profile: prof.Name, Started: c.cfg.Store.Now(), Challenge: ch}
	if _, err := c.cfg.Store.Apply(ctx, &fsm.StartTask{Node: n.Name, Task: task}); err != nil {
		c.log.Warn("start firmware profile task", "node", n.Name, "job", j.ID, "profile", prof.Name, "err", err)
		return
	}
	if t := c.agentTask(n, &task); t != nil {
		c.cfg.Agents.Dispatch(n.Name, t)
	}
}

// profilePins are the versions a profile's nodes run: the profile's own
// where it names one, the baseline pin for every other board.
func (c *jobController) profilePins(prof model.FirmwareProfile) []FirmwarePin {
	var out []FirmwarePin
	seen := map[string]bool{}
	for _, r := range prof.HCA {
		if r.Version != "" {
			out = append(out, FirmwarePin{PSID: r.PSID, Version: r.Version, SHA256: r.SHA256, File: r.File})
			seen[r.PSID] = true
		}
	}
	for _, p := range c.cfg.FirmwarePins {
		if !seen[p.PSID] {
			out = append(out, p)
		}
	}
	return out
}

// profileAgentTask is the wire task of a recorded profile task.
func (c *jobController) profileAgentTask(t *model.NodeTask) *pb.FirmwareProfileTask {
	var prof model.FirmwareProfile
	var ok bool
	c.cfg.Store.Read(func(st *fsm.State) { prof, ok = st.FirmwareProfiles[t.Profile] })
	if !ok {
		return nil
	}
	out := &pb.FirmwareProfileTask{Profile: prof.Name}
	for _, p := range c.profilePins(prof) {
		out.Pins = append(out.Pins, &pb.FirmwarePin{Psid: p.PSID, Version: p.Version, Sha256: p.SHA256, File: p.File})
	}
	for _, r := range prof.HCA {
		for _, k := range slices.Sorted(maps.Keys(r.Config)) {
			out.Settings = append(out.Settings, &pb.FirmwareSetting{Psid: r.PSID, Key: k, Value: r.Config[k]})
		}
	}
	return out
}

// firmwareChallenge completes a cleaning's firmware challenge: the
// readings as found, and every setting ibex verified on the node (its
// profile's among them) back at the firmware's default.
func firmwareChallenge(st *fsm.State, n *model.Node, ch *model.Challenge) {
	ch.Before = true
	keys := seenKeys(n.FirmwareSeen)
	if p, ok := st.FirmwareProfiles[n.FirmwareProfile]; ok && n.FirmwareProfile != "" {
		keys = append(keys, p.ConfigKeys()...)
	}
	slices.Sort(keys)
	ch.ConfigKeys = slices.Compact(keys)
}

// seenKeys are the settings ibex last verified on a node, sorted.
func seenKeys(f *model.FirmwareSeen) []string {
	if f == nil {
		return nil
	}
	var keys []string
	for _, set := range f.Config {
		keys = append(keys, slices.Collect(maps.Keys(set))...)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
