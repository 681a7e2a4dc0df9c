package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// BIOS profiles (kind bios) in the leader's loops. BIOS attributes belong
// to the BMC, and the BMC to the control plane, so the leader applies
// them, not the agent: before the job starts it reads the attributes the
// profile names (the baseline the cleaning puts back), writes the
// profile's values as pending, power-cycles the node so the BIOS takes
// them, reads them back, and records all of it (fsm.BIOSProfileApplied,
// the "bios-profile" ledger entry in the job's tenancy). StartJob waits
// for that record. The cleaning, before its agent steps, reads the BIOS
// as found (anything different from what ibex verified quarantines the
// node), puts the baseline back the same way and records it
// (fsm.BIOSRestored); NodeCleaned waits for that record.
//
// Both run inside the job's or node's background step (steps.go), so a
// slow BMC holds up that job or node only; biosTimeout bounds each.

// biosTimeout bounds one apply or restore: a power cycle of a real server
// with its POST takes minutes.
const biosTimeout = 15 * time.Minute

// biosApplied is profilesApplied for a bios profile: it applies the
// profile to every node of j that does not run it yet and reports whether
// all do. A failure fails the job (the cleaning then restores the
// baseline, if it was read).
func (c *jobController) biosApplied(ctx context.Context, j *model.Job, prof model.FirmwareProfile, nodes []*model.Node) bool {
	done := true
	for _, n := range nodes {
		if n.BIOS != nil && n.BIOS.Applied && n.BIOS.Profile == prof.Name && n.BIOS.Job == j.ID {
			continue
		}
		done = false
		if n.BMC == nil || c.cfg.BMCs == nil {
			c.finish(ctx, j, model.JobFailed, nil, fmt.Sprintf("node %s has no BMC registered with ibexd to apply bios profile %s through (`ibex nodes bmc set`)", n.Name, prof.Name))
			return false
		}
		if n.BIOS != nil && n.BIOS.Job == j.ID && !n.BIOS.Applied {
			return false // a failed apply, whose job is being failed
		}
		start := c.cfg.Store.Now()
		baseline, readings, applyTime, err := c.applyBIOS(ctx, n, prof)
		if err == nil {
			_, err = c.cfg.Store.Apply(ctx, &fsm.BIOSProfileApplied{Node: n.Name, JobID: j.ID, Profile: prof.Name, Baseline: baseline,
				Readings: readings, ApplyTime: applyTime, Start: start, Time: c.cfg.Store.Now()})
		}
		if err != nil {
			if ctx.Err() != nil {
				return false // leadership lost: the next leader starts over
			}
			msg := clip(fmt.Sprintf("bios profile %s on %s: %v", prof.Name, n.Name, err), 1000)
			if _, ferr := c.cfg.Store.Apply(ctx, &fsm.BIOSStepFailed{Node: n.Name, JobID: j.ID, Step: fsm.StepBIOSProfile, Error: msg,
				Profile: prof.Name, Baseline: baseline, Start: start, Time: c.cfg.Store.Now()}); ferr != nil {
				c.log.Warn("record bios profile failure", "node", n.Name, "job", j.ID, "err", ferr)
			}
			c.finish(ctx, j, model.JobFailed, nil, msg+fmt.Sprintf(" (see `ibex nodes history %s`)", n.Name))
			return false
		}
	}
	return done
}

// applyBIOS applies prof to n's BIOS through its BMC and returns the
// baseline (the profile's attributes as found, nil if they could not be
// read) and the readings after the power cycle.
func (c *jobController) applyBIOS(ctx context.Context, n *model.Node, prof model.FirmwareProfile) (baseline, readings map[string]string, applyTime string, err error) {
	ctx, cancel := context.WithTimeout(ctx, biosTimeout)
	defer cancel()
	b, bs, err := c.openBIOS(n)
	if err != nil {
		return nil, nil, "", err
	}
	cur, err := bs.BIOSAttributes(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	baseline = map[string]string{}
	for k := range prof.BIOS {
		v, ok := cur[k]
		if !ok {
			return nil, nil, "", fmt.Errorf("the BIOS has no attribute %s: %w (nothing was written)", k, bmc.ErrUnknownBIOSAttribute)
		}
		baseline[k] = v
	}
	if applyTime, err = bs.SetBIOSAttributes(ctx, prof.BIOS); err != nil {
		return baseline, nil, "", err
	}
	readings, err = c.biosPowerCycle(ctx, n.Name, b, bs)
	if err != nil {
		return baseline, nil, applyTime, err
	}
	if err := model.CheckBIOSReadings(prof.BIOS, readings); err != nil {
		return baseline, nil, applyTime, fmt.Errorf("after the power cycle: %w", err)
	}
	return baseline, pick(readings, prof.BIOS), applyTime, nil
}

// biosPowerCycle resets the host so the BIOS takes its pending settings
// and reads the attributes back. The node's agent goes away with the
// power and comes back after the boot, so the reset is marked in the
// replicated state first (fsm.PowerCycle): until the mark runs out the
// liveness loop of whichever server leads, a new leader after a failover
// included, leaves the node alone rather than fence it or mark it down.
// Once the agent is back the mark is shortened to rebootGrace; if it does
// not come back the mark is cleared, so the node counts as lost at once.
func (c *jobController) biosPowerCycle(ctx context.Context, node string, b bmc.BMC, bs bmc.BIOSSettings) (map[string]string, error) {
	now := c.cfg.Store.Now()
	until := now.Add(biosTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	if _, err := c.cfg.Store.Apply(ctx, &fsm.PowerCycle{Node: node, Until: until, Time: now}); err != nil {
		return nil, fmt.Errorf("record the power cycle before it: %w", err)
	}
	back := false
	defer func() {
		mark := &fsm.PowerCycle{Node: node, Time: c.cfg.Store.Now()}
		if back {
			mark.Until = mark.Time.Add(rebootGrace)
		}
		// Not on ctx: a deadline that ended the wait must not keep
		// the mark from being cleared.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := c.cfg.Store.Apply(actx, mark); err != nil {
			c.log.Warn("update the power cycle mark", "node", node, "err", err)
		}
	}()
	if err := b.Reset(ctx, bmc.ResetForceRestart); err != nil {
		return nil, fmt.Errorf("power cycle to apply the BIOS settings: %w", err)
	}
	got, err := bs.BIOSAttributes(ctx)
	if err != nil {
		return nil, fmt.Errorf("read back after the power cycle: %w", err)
	}
	if err := c.waitAgentBack(ctx, node); err != nil {
		return nil, err
	}
	back = true
	return got, nil
}

// rebootGrace is how long after its agent is back a power-cycled node's
// gossip may still flap without the node counting as lost.
const rebootGrace = 15 * time.Second

// waitAgentBack waits until node's agent is alive in the gossip pool
// again (no gossip: nothing to wait for).
func (c *jobController) waitAgentBack(ctx context.Context, node string) error {
	if c.cfg.Gossip == nil {
		return nil
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	// The reset may not have taken the agent away yet: give it a moment
	// to leave before waiting for it to come back.
	for i := 0; ; i++ {
		if alive, ok := c.cfg.Gossip.Alive(); ok && alive[node] && i >= 10 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the node's agent did not come back after the power cycle: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// restoreBIOS is the cleaning's BIOS step. It reports whether the node's
// BIOS needs nothing more (no profile to restore); otherwise it works on
// it (or quarantines the node) and the next pass looks again.
func (c *jobController) restoreBIOS(ctx context.Context, n *model.Node) bool {
	if n.BIOS == nil || n.BIOS.Profile == "" {
		return true
	}
	if model.GaveUp(n, model.TaskBIOSRestore) {
		c.quarantine(ctx, n, fmt.Sprintf("restoring the BIOS baseline after bios profile %s failed %d times (see `ibex nodes history %s`)", n.BIOS.Profile, n.StepFailures[model.TaskBIOSRestore], n.Name))
		return false
	}
	if n.BMC == nil || c.cfg.BMCs == nil {
		c.quarantine(ctx, n, fmt.Sprintf("node runs bios profile %s but ibexd has no BMC for it to restore the baseline through", n.BIOS.Profile))
		return false
	}
	start := c.cfg.Store.Now()
	rctx, cancel := context.WithTimeout(ctx, biosTimeout)
	defer cancel()
	readings, drift, err := c.restoreBaseline(rctx, n)
	switch {
	case drift != nil:
		c.quarantine(ctx, n, fmt.Sprintf("BIOS changed behind ibex's back while it ran bios profile %s: %v", n.BIOS.Profile, drift))
		return false
	case err == nil:
		_, err = c.cfg.Store.Apply(ctx, &fsm.BIOSRestored{Node: n.Name, JobID: n.LastJobID, Readings: readings, Start: start, Time: c.cfg.Store.Now()})
	}
	if err != nil && ctx.Err() == nil {
		msg := clip(fmt.Sprintf("restore BIOS baseline of %s: %v", n.Name, err), 1000)
		if _, ferr := c.cfg.Store.Apply(ctx, &fsm.BIOSStepFailed{Node: n.Name, JobID: n.LastJobID, Step: fsm.StepBIOSRestore, Error: msg, Start: start, Time: c.cfg.Store.Now()}); ferr != nil {
			c.log.Warn("record bios restore failure", "node", n.Name, "err", ferr)
		}
	}
	return false
}

// restoreBaseline reads n's BIOS as found (drift: it differs from what
// ibex verified), writes the baseline, power-cycles and reads it back.
func (c *jobController) restoreBaseline(ctx context.Context, n *model.Node) (readings map[string]string, drift, err error) {
	b, bs, err := c.openBIOS(n)
	if err != nil {
		return nil, nil, err
	}
	found, err := bs.BIOSAttributes(ctx)
	if err != nil {
		return nil, nil, err
	}
	if n.BIOS.Applied {
		if d := model.CheckBIOSReadings(n.BIOS.Verified, found); d != nil {
			return nil, d, nil
		}
	}
	if _, err := bs.SetBIOSAttributes(ctx, n.BIOS.Baseline); err != nil {
		return nil, nil, err
	}
	got, err := c.biosPowerCycle(ctx, n.Name, b, bs)
	if err != nil {
		return nil, nil, err
	}
	if err := model.CheckBIOSReadings(n.BIOS.Baseline, got); err != nil {
		return nil, nil, fmt.Errorf("after the power cycle: %w", err)
	}
	return pick(got, n.BIOS.Baseline), nil, nil
}

func (c *jobController) openBIOS(n *model.Node) (bmc.BMC, bmc.BIOSSettings, error) {
	b, err := openNodeBMC(c.cfg, n) // provision.go
	if err != nil {
		return nil, nil, err
	}
	bs, ok := b.(bmc.BIOSSettings)
	if !ok {
		return nil, nil, fmt.Errorf("node %s: this BMC client cannot set BIOS attributes: %w", n.Name, bmc.ErrUnsupported)
	}
	return b, bs, nil
}

func (c *jobController) quarantine(ctx context.Context, n *model.Node, reason string) {
	if _, err := c.cfg.Store.Apply(ctx, &fsm.QuarantineNode{Node: n.Name, Reason: reason, Time: c.cfg.Store.Now()}); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Warn("quarantine", "node", n.Name, "err", err)
	}
}

// pick is m restricted to the keys of want.
func pick(m, want map[string]string) map[string]string {
	out := make(map[string]string, len(want))
	for k := range maps.Keys(want) {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
