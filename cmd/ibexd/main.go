// Command ibexd is the ibex control-plane server; see `ibexd --help`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/cli"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/server"
)

func main() {
	app := &ucli.App{
		Name:  "ibexd",
		Usage: "the ibex control-plane server",
		Description: `ibexd keeps the cluster state in raft, serves the gRPC allocation API and, on
the leader, schedules jobs and runs them on nodes.

--dev runs everything on this machine: one server with raft in --data-dir
(default ./.ibex-dev, kept across restarts), a simulated two-level fat tree
and its nodes, whose jobs run as local processes. It writes a CLI config with
the admin token to --cli-config, so ` + "`ibex`" + ` works in another shell at once.`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dev", Usage: "single-server development cluster with simulated nodes"},
			&ucli.StringFlag{Name: "data-dir", Usage: "state `DIR` (default ./.ibex-dev with --dev)"},
			&ucli.StringFlag{Name: "listen", Usage: "gRPC API `ADDR`", Value: "127.0.0.1:7700"},
			&ucli.StringFlag{Name: "http", Usage: "dashboard, /metrics and /healthz `ADDR` (empty disables)", Value: "127.0.0.1:7702"},
			&ucli.StringFlag{Name: "raft-addr", Usage: "raft transport `ADDR`", Value: "127.0.0.1:7701"},
			&ucli.StringFlag{Name: "node-id", Usage: "raft server id", Value: "ibexd-1"},
			&ucli.IntFlag{Name: "spines", Usage: "simulated fabric: spine switches", Value: topology.DefaultFatTree.Spines},
			&ucli.IntFlag{Name: "leaves", Usage: "simulated fabric: leaf switches", Value: topology.DefaultFatTree.Leaves},
			&ucli.IntFlag{Name: "nodes-per-leaf", Usage: "simulated fabric: nodes under each leaf", Value: topology.DefaultFatTree.NodesPerLeaf},
			&ucli.StringFlag{Name: "cli-config", Usage: "where --dev writes the CLI config `FILE`", Value: cli.DefaultConfigPath()},
			&ucli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ibexd: %v\n", err)
		os.Exit(1)
	}
}

func run(c *ucli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	dataDir := c.String("data-dir")
	if dataDir == "" && c.Bool("dev") {
		dataDir = ".ibex-dev"
	}
	cfg := server.Config{
		DataDir: dataDir, NodeID: c.String("node-id"), Listen: c.String("listen"), RaftAddr: c.String("raft-addr"), HTTPListen: c.String("http"),
		Bootstrap: c.Bool("dev"), Simulate: c.Bool("dev"),
		Fabric: topology.FatTree{Spines: c.Int("spines"), Leaves: c.Int("leaves"), NodesPerLeaf: c.Int("nodes-per-leaf")},
		Logger: log,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Stop()
	if c.Bool("dev") {
		announceDev(c, s, cfg)
	}
	return s.Run(ctx)
}

// announceDev writes the CLI config and tells the user how to use the
// cluster.
func announceDev(c *ucli.Context, s *server.Server, cfg server.Config) {
	out := c.App.Writer
	path := c.String("cli-config")
	abs, _ := filepath.Abs(cfg.DataDir)
	if s.AdminToken != "" && path != "" {
		if err := cli.WriteConfig(path, cli.Config{Addr: s.Addr(), Token: s.AdminToken}); err != nil {
			fmt.Fprintf(out, "warning: %v\n", err)
		}
	}
	f := cfg.Fabric
	fmt.Fprintf(out, `ibexd --dev is up
  API          %s
  dashboard    http://%s/
  data         %s (raft log, snapshots, job output; survives restarts)
  fabric       simulated fat tree: %d spines, %d leaves, %d nodes per leaf (%d nodes)
  CLI config   %s (admin token)

In another shell:
  ./bin/ibex nodes
  ./bin/ibex submit -N 4 -t 5m --name hello -- hostname
  ./bin/ibex queue --all
Stop with Ctrl-C.
`, s.Addr(), s.HTTPAddr(), abs, f.Spines, f.Leaves, f.NodesPerLeaf, f.Leaves*f.NodesPerLeaf, path)
}
