package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	"github.com/ibex-hpc/ibex/server"
)

// --sim-sysfs: simulated hosts whose agents are ibex-agent processes of
// their own (the multi-host test runs them in network namespaces) need
// the sysfs an agent reads: an HCA whose port GUIDs are the simulated
// fabric's, and a P_Key table that follows the subnet manager, since the
// agent refuses to start a job whose key its own table lacks. ibexd
// writes one tree per host and mirrors the tables into them, as
// --sim-agents does for its in-process agents.

var simSysfsFlag = &ucli.StringFlag{Name: "sim-sysfs", Usage: "with --simulate --sim-agents=false: write a fake sysfs tree for every simulated host in `DIR`/<node> and keep its P_Key tables following the subnet manager, for ibex-agent processes started with --sysfs-root DIR/<node>; servers of one cluster may share DIR"}

// setupSimSysfs builds the trees and wraps the subnet manager in a Mirror
// that writes them. raw reads the fabric's raw tables (ibsim), or nil.
func setupSimSysfs(dir string, cfg *server.Config, raw simnode.RawTables, log *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--sim-sysfs: %w", err)
	}
	if cfg.SM == nil {
		return fmt.Errorf("--sim-sysfs needs a subnet manager whose P_Key tables it mirrors (--fabric sim or ibsim, not off)")
	}
	var specs []simnode.Spec
	for _, h := range cfg.Hosts {
		specs = append(specs, simnode.Spec{Name: h.Name, Ports: h.Ports})
	}
	trees, err := simnode.NewTrees(abs, specs)
	if err != nil {
		return fmt.Errorf("--sim-sysfs: %w", err)
	}
	cfg.SM = &simnode.Mirror{Driver: cfg.SM, Read: raw, Nodes: trees, Ports: trees.Ports(), Log: log.With("component", "sim-sysfs")}
	log.Info("simulated hosts' sysfs trees for external agents", "dir", abs, "hosts", len(specs))
	return nil
}
