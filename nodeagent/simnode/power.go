package simnode

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/ibex-hpc/ibex/nodeagent/agent"
)

// A simulated node's power (Config.Power): what its BMC switches. Powered
// off, the node runs nothing: its agent is stopped and its jobs' processes
// are killed, as a power cut would. Powered on, it boots: a fresh agent
// starts, in its deploy ramdisk when the BMC's one-time boot says network
// or virtual media, else from its disk, reporting which (agent.BootMode)
// and, from disk, the digest of the image it finds there. The disk and the
// agent's data directory survive, as a machine's disks do.
//
// A stopped agent leaves the gossip pool as it goes (the in-process agent
// has no way to vanish without a word that would not also leave its member
// behind under the same name); the control plane treats the departure of a
// node it is deploying as part of the deployment.

// power is a node's power state and the agent of its current boot.
type power struct {
	mu     sync.Mutex
	parent context.Context // the fleet's: boots end with it
	enroll Enroller
	onErr  func(error)
	on     bool
	mode   agent.BootMode
	boots  int
	cancel context.CancelFunc
	done   chan struct{}
}

// bootMode is what a node boots into at start.
func (c Config) bootMode() agent.BootMode {
	if c.Power {
		return agent.BootDisk
	}
	return ""
}

// BootRecord is the file where the node's deploy ramdisk leaves the image
// it wrote for the next boot from disk (the simulated ESP).
func (n *Node) BootRecord() string { return filepath.Join(n.Dir, "boot-record.json") }

// powerUp starts a power-managed node, powered on from its disk, its
// boots ending with ctx; onErr hears of an agent that stopped with an
// error.
func (n *Node) powerUp(ctx context.Context, e Enroller, onErr func(error)) {
	n.pw.mu.Lock()
	defer n.pw.mu.Unlock()
	n.pw.parent, n.pw.enroll, n.pw.onErr = ctx, e, onErr
	n.bootLocked(agent.BootDisk, n.Agent)
}

// PowerOff cuts the node's power: its agent stops (it has left the gossip
// pool when PowerOff returns) and its jobs' processes are killed.
func (n *Node) PowerOff() {
	n.pw.mu.Lock()
	defer n.pw.mu.Unlock()
	n.offLocked()
}

// Boot powers the node on (off first if it is on, as a reset does) and
// boots mode.
func (n *Node) Boot(mode agent.BootMode) {
	n.pw.mu.Lock()
	defer n.pw.mu.Unlock()
	n.offLocked()
	n.bootLocked(mode, nil)
}

// Power reports whether the node is on, what it booted, and how many
// times it booted since it started.
func (n *Node) Power() (on bool, mode agent.BootMode, boots int) {
	n.pw.mu.Lock()
	defer n.pw.mu.Unlock()
	return n.pw.on, n.pw.mode, n.pw.boots
}

func (n *Node) offLocked() {
	if !n.pw.on {
		return
	}
	n.pw.cancel()
	<-n.pw.done
	n.pw.on, n.pw.cancel, n.pw.done = false, nil, nil
	if refs, err := n.Jobs.Tasks(); err == nil {
		for _, r := range refs {
			_ = n.Jobs.Kill(r.JobID, r.Node)
		}
	}
}

// bootLocked starts an agent for mode (a, or a new one).
func (n *Node) bootLocked(mode agent.BootMode, a *agent.Agent) {
	if n.pw.parent == nil || n.pw.parent.Err() != nil {
		return // not started, or the simulation is over
	}
	if a == nil {
		a = n.newAgent(mode)
		n.Agent = a
	}
	e := n.pw.enroll
	if n.Enrolled() {
		e = nil // a reboot: nothing to ask the control plane
	}
	ctx, cancel := context.WithCancel(n.pw.parent)
	done := make(chan struct{})
	n.pw.on, n.pw.mode, n.pw.cancel, n.pw.done = true, mode, cancel, done
	n.pw.boots++
	onErr := n.pw.onErr
	go func() {
		defer close(done)
		if err := n.startAgent(ctx, a, e); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
	}()
}

// waitOff waits until the node's current agent has stopped (after the
// fleet's context ended).
func (n *Node) waitOff() {
	n.pw.mu.Lock()
	done := n.pw.done
	n.pw.mu.Unlock()
	if done != nil {
		<-done
	}
}
