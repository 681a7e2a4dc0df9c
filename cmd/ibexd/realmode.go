package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ibex-hpc/ibex/server"
)

// realMachinesHelp is the real-machine part of ibexd --help: how a node
// comes to exist and where it goes (fabric/placement has the rule).
const realMachinesHelp = `Without --dev/--simulate, ibexd manages real machines. It needs
--agent-listen and --fabric (ufm, or off for no partitions). Its nodes are
the machines whose ibex-agent enrolled: ` + "`ibex agent token NAME`" + ` for a new
NAME makes a join token, and the agent's enrollment creates node NAME, which
is cleaned before first use. Each time the agent connects it reports the port
GUIDs of the node's HCAs (sysfs; ports that are down and RoCE ports do not
count), and ibexd matches them against the fabric imported with
` + "`ibex fabric import`" + ` (ibnetdiscover output):
  - GUIDs on one host of the topology: the node takes that host's place
    under its leaf switch (GUIDs the topology lacks, e.g. an uncabled second
    port, are shown but do not stop it);
  - no GUID in the topology, or no topology yet: the node is ready but
    unplaced, the reason shown by ` + "`ibex nodes`" + `, and the scheduler gives it a
    leaf of its own (it shares a leaf with no one);
  - a GUID another node already reported, GUIDs on two hosts, a host
    another node holds, or unreadable GUIDs: the node is refused, drained
    with the reason and never scheduled, until a new report or import
    clears it.
Partition keys go to exactly the GUIDs the agent reported. A new import
places every node again.`

// setupRealFabric picks the subnet manager for real machines: NVIDIA UFM,
// or none when the operator says so. The simulated ones have no place
// here, and no partitions must be an explicit choice, not a default.
func setupRealFabric(f fabricFlags, cfg *server.Config, log *slog.Logger) error {
	switch f.Mode {
	case FabricUFM:
		if err := f.validate(); err != nil {
			return err
		}
		return setupUFM(f, cfg, log)
	case FabricOff:
		log.Warn("--fabric=off: no partitions; every tenant's nodes stay in the default partition")
		return nil
	case "":
		return errors.New("real machines need --fabric: ufm (partitions through NVIDIA UFM: --ufm-url, --ufm-user, --ufm-password-file) or off (no partitions)")
	case FabricSim, FabricIBSim:
		return fmt.Errorf("--fabric=%s simulates the fabric, which needs --simulate or --dev; on real machines use --fabric=ufm or --fabric=off", f.Mode)
	}
	return f.validate()
}
