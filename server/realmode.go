package server

import (
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// Real machines. Without Simulate, ibexd registers no nodes of its own: a
// node exists once its agent enrolled with a join token an admin created
// for its name (`ibex agent token NAME`; on such a cluster the token may
// name a new node and the enrollment creates it). Each hello carries the
// node's HCA port GUIDs, which the state machine matches against the
// imported topology (`ibex fabric import`): the rule is fabric/placement's
// package comment, and server/fabricview turns it into the scheduling tree
// and the partition ports.

// validateReal checks a real-machine config: agents are the only way a
// node can exist, so their listener is required, and nothing simulated
// may be configured.
func (c *Config) validateReal() error {
	if c.AgentListen == "" {
		return errors.New("on real machines the nodes are the machines whose ibex-agent enrolled: set --agent-listen ADDR for them (or run --simulate/--dev for simulated nodes)")
	}
	if len(c.Hosts) > 0 || c.Fabric != (topology.FatTree{}) {
		return errors.New("simulated hosts or a simulated fat tree given without --simulate: on real machines the fabric comes from `ibex fabric import`")
	}
	if c.Exec == nil {
		c.Exec = noJobRunner{}
	}
	return nil
}

// noJobRunner is the executor of a real-machine ibexd that was given none:
// nothing here may run a tenant's processes on the control-plane host, so
// a batch job fails at launch with this error instead. Interactive
// allocations (nodes and a partition, no processes) work.
type noJobRunner struct{}

var errNoJobRunner = errors.New("this ibexd has no job runner for real machines: batch jobs cannot start (interactive allocations work)")

func (noJobRunner) Start(localexec.Task) error { return errNoJobRunner }
func (noJobRunner) Status(uint64, string) (localexec.Status, error) {
	return localexec.Status{}, errNoJobRunner
}
func (noJobRunner) Kill(uint64, string) error { return nil } // nothing was started
func (noJobRunner) Clean(jobID uint64, node string) (string, error) {
	return "", fmt.Errorf("clean %s after job %d: %w", node, jobID, errNoJobRunner)
}
func (noJobRunner) Output(uint64, string, int64) ([]byte, error) { return nil, errNoJobRunner }
