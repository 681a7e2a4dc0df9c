package server

import (
	"errors"

	"github.com/ibex-hpc/ibex/fabric/topology"
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
	if c.Exec != nil || c.Launcher != nil {
		return errors.New("a local job runner given without --simulate: on real machines jobs run only through the nodes' agents")
	}
	return nil
}
