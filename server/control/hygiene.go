package control

import (
	"context"
	"errors"
	"fmt"
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

// The rules (which steps, in which order, when a node is clean, how often
// a step may fail) are model.NextStep and model.GaveUp; the failure count
// is replicated, so a new leader continues it.
//
// One step: cleanChain (cleanchain.go) calls it again as soon as the
// step's result is in the state, and it reports what it did.
func (c *jobController) cleanAgentStep(ctx context.Context, n *model.Node, at uint64) cleanOutcome {
	if n.Agent.Revoked {
		return cleanIdle // nothing can run there until its agent enrolls again
	}
	if n.Task != nil {
		if c.giveUpOverdue(ctx, n) { // custody.go
			return cleanIdle
		}
		if t := c.agentTask(n, n.Task); t != nil {
			c.cfg.Agents.Dispatch(n.Name, t)
			return cleanWaiting
		}
		return cleanIdle
	}
	if stopped, recorded := c.stopLastJob(ctx, n); !stopped {
		if recorded {
			return cleanWaiting
		}
		return cleanIdle
	}
	if !c.restoreBIOS(ctx, n) {
		return cleanIdle // the BIOS baseline first: its power cycle would cut the agent's steps short (biosprofile.go)
	}
	policy := model.CleaningPolicy{Image: c.cfg.DefaultImage}
	if kind, done := model.NextStep(n, policy); !done {
		if model.GaveUp(n, kind) {
			reason := fmt.Sprintf("%s failed %d times while cleaning after job %d (see `ibex nodes history %s`)", kind, n.StepFailures[kind], n.LastJobID, n.Name)
			if _, err := c.cfg.Store.Apply(ctx, &fsm.QuarantineNode{Node: n.Name, Reason: reason, Time: c.cfg.Store.Now()}); err != nil {
				c.log.Warn("quarantine", "node", n.Name, "err", err)
			}
			return cleanIdle
		}
		id := fmt.Sprintf("%s/%d/%s/%d", n.Name, n.LastJobID, kind, at)
		task := model.NodeTask{ID: id, Kind: kind, Started: c.cfg.Store.Now()}
		var img model.Image
		if kind == model.TaskImage {
			task.Image = policy.Image
			c.cfg.Store.Read(func(st *fsm.State) { img = st.Images[policy.Image] })
		}
		task.Challenge = c.taskChallenge(kind, img)
		if kind == model.TaskFirmware {
			c.cfg.Store.Read(func(st *fsm.State) { firmwareChallenge(st, n, task.Challenge) }) // fwprofile.go
		}
		// Sent with its record (ahead.go) rather than a pass later (every
		// step of every cleaning paid a pass). The next passes resend it,
		// which the stream ignores, until the agent's result is in.
		t := c.agentTask(n, &task)
		if err := c.recordAndSend(ctx, &fsm.StartTask{Node: n.Name, Task: task}, n.Name, t); err != nil {
			c.log.Warn("start task", "node", n.Name, "task", id, "err", err)
			return cleanIdle
		}
		if t != nil {
			return cleanWaiting
		}
		return cleanIdle
	}
	check, ok := c.pkeyCheck(n)
	if !ok {
		return cleanIdle
	}
	ev := fmt.Sprintf("steps %s recorded in the ledger", strings.Trim(fmt.Sprint(policy.Steps()), "[]"))
	if n.LastJobID != 0 && c.cfg.Exec != nil {
		ev = "stop of job " + fmt.Sprint(n.LastJobID) + " and " + ev
	}
	cmd := &fsm.NodeCleaned{Node: n.Name, JobID: n.LastJobID, Evidence: ev, Image: policy.Image, PKeyCheck: &check, Time: c.cfg.Store.Now()}
	if _, err := c.cfg.Store.Apply(ctx, cmd); err != nil {
		c.log.Warn("node cleaned", "node", n.Name, "err", err)
		return cleanIdle
	}
	return cleanDone
}

// maxStopEvidence is the most of a stop's evidence the ledger takes
// (fsm.JobStopped's bound).
const maxStopEvidence = 16 << 10

// stopLastJob makes sure nothing of the node's last job runs before the
// hygiene steps start: the executor kills it (on an agent, the job's
// cgroup and any process of the job user) and its evidence becomes the
// node's "stop" ledger entry (fsm.JobStopped). It reports whether the
// stop is recorded; until then the next pass asks again (the executor
// caches the verdict, so asking costs nothing once it is in). recorded
// says it committed the stop just now (the caller goes on from it).
func (c *jobController) stopLastJob(ctx context.Context, n *model.Node) (stopped, recorded bool) {
	if n.LastJobID == 0 || c.cfg.Exec == nil || n.StoppedJob == n.LastJobID {
		return true, false
	}
	ev, err := c.cfg.Exec.Clean(n.LastJobID, n.Name)
	if err != nil {
		if !errors.Is(err, ErrInProgress) {
			c.log.Warn("stop the last job before cleaning", "node", n.Name, "job", n.LastJobID, "err", err)
		}
		return false, false
	}
	if len(ev) > maxStopEvidence {
		ev = ev[:maxStopEvidence-len(" [...]")] + " [...]"
	}
	if _, err := c.cfg.Store.Apply(ctx, &fsm.JobStopped{Node: n.Name, JobID: n.LastJobID, Evidence: ev, Time: c.cfg.Store.Now()}); err != nil {
		c.log.Warn("record the stop of the last job", "node", n.Name, "job", n.LastJobID, "err", err)
		return false, false
	}
	return false, true // the next step goes on from the recorded stop
}

// pkeyCheck is the fabric's observation that the partition key of n's last
// job is gone from its ports, which NodeCleaned must carry; false while
// the partition controller has not yet seen it gone. Without a subnet
// manager nothing can prove a key gone, and the FSM would refuse.
func (c *jobController) pkeyCheck(n *model.Node) (model.PKeyCheck, bool) {
	if c.parts == nil {
		if n.LastPKey != 0 {
			c.log.Warn("no subnet manager to prove the last job's partition key gone; the node stays cleaning", "node", n.Name, "pkey", n.LastPKey)
			return model.PKeyCheck{}, false
		}
		return model.PKeyCheck{NoFabric: true}, true
	}
	return c.parts.KeyGone(n)
}

// agentTask builds the wire task for a recorded node task.
func (c *jobController) agentTask(n *model.Node, t *model.NodeTask) *pb.AgentTask {
	out := &pb.AgentTask{Id: t.ID, Term: c.cfg.Store.Term(), ChallengeJson: challengeJSON(t.Challenge)}
	switch t.Kind {
	case model.TaskErase:
		out.Kind = &pb.AgentTask_Erase{Erase: &pb.EraseTask{}}
	case model.TaskFirmware:
		out.Kind = &pb.AgentTask_Firmware{Firmware: &pb.FirmwareTask{Pins: c.wirePins()}}
	case model.TaskImage:
		var img model.Image
		var ok bool
		c.cfg.Store.Read(func(st *fsm.State) { img, ok = st.Images[t.Image] })
		if !ok {
			c.log.Warn("image not in the catalog", "node", n.Name, "image", t.Image)
			return nil
		}
		out.Kind = &pb.AgentTask_Image{Image: &pb.ImageTask{Image: wireImage(img)}}
	case model.TaskFirmwareProfile:
		pt := c.profileAgentTask(t) // fwprofile.go
		if pt == nil {
			c.log.Warn("firmware profile withdrawn", "node", n.Name, "profile", t.Profile)
			return nil
		}
		out.Kind = &pb.AgentTask_FirmwareProfile{FirmwareProfile: pt}
	}
	return out
}
