package control

import "github.com/ibex-hpc/ibex/raft/fsm"

// provisioning reports whether any node has a BMC and a provisioning
// record, the only nodes a provisioner pass acts on.
//
// Why: the provisioner passes at every commit burst (up to 20 a second);
// each took Work, whose first caller after a node changed pays a deep copy
// of every node. On clusters, or simulations, without BMCs, that was a
// copy of 512 nodes many times a second for nothing; a look under the
// read lock costs microseconds.
func (p *provisioner) provisioning() bool {
	found := false
	p.cfg.Store.Read(func(st *fsm.State) {
		for _, n := range st.Nodes {
			if n.BMC != nil && n.Prov != nil {
				found = true
				return
			}
		}
	})
	return found
}
