// Command ibexd is the ibex control-plane server; see `ibexd --help`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/cli"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/version"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/localexec/ctlexec"
	"github.com/ibex-hpc/ibex/nodeagent/nodeexec"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/server"
	"github.com/ibex-hpc/ibex/server/agentgw"
	"github.com/ibex-hpc/ibex/server/control"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "ibexd: %v\n", err)
		os.Exit(1)
	}
}

// newApp is ibexd's command line: its flags, each also settable from
// --config FILE (config.go), and --version.
func newApp() *ucli.App {
	app := &ucli.App{
		Name:    "ibexd",
		Version: version.String(),
		Usage:   "the ibex control-plane server",
		Description: `ibexd keeps the cluster state in raft, serves the gRPC allocation API and, on
the leader, schedules jobs and runs them on nodes.

--dev runs everything on this machine: one server with raft in --data-dir
(default ./.ibex-dev, kept across restarts), a simulated two-level fat tree
and its nodes. Each simulated node has a real node agent running in ibexd
(--sim-agents) on fake hardware kept in --sim-root: it enrolls, connects over
mutual TLS, runs the node's jobs and execs, and cleans the node between
tenants, like ibex-agent on a real machine. It writes a CLI config with the
admin token to --cli-config, so ` + "`ibex`" + ` works in another shell at once; a
config already there that --dev did not write is left alone (unless
--cli-config is given), and dev.json beside it is written instead.

` + realMachinesHelp + `

` + tlsHelp + `

Every flag can also be set in a YAML file given with --config (keys are the
flag names: "data-dir: /var/lib/ibexd"); flags on the command line win, and
an unknown key is an error. deploy/ibexd.yaml is an example.`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "dev", Usage: "single-server development cluster with simulated nodes (= --bootstrap --simulate)"},
			&ucli.BoolFlag{Name: "bootstrap", Usage: "form a new cluster if --data-dir is empty (alone, or of --peers)"},
			&ucli.BoolFlag{Name: "simulate", Usage: "run simulated nodes on the --spines/--leaves fat tree"},
			&ucli.StringFlag{Name: "peers", Usage: "bootstrap membership, the same on every server: `ID=RAFTADDR=APIADDR,...`"},
			&ucli.StringFlag{Name: "join", Usage: "join a running cluster through this server's API `ADDR`"},
			&ucli.StringFlag{Name: "admin-token-file", Usage: "bootstrap admin token `FILE` (default DATADIR/admin.token)"},
			&ucli.StringFlag{Name: "jobs-dir", Usage: "simulated nodes' job `DIR`, shared by the servers of one host (default DATADIR/jobs)"},
			&ucli.DurationFlag{Name: "heartbeat-timeout", Usage: "raft heartbeat timeout: a follower that hears nothing this long starts an election", Value: 500 * time.Millisecond},
			&ucli.DurationFlag{Name: "election-timeout", Usage: "raft election timeout", Value: 500 * time.Millisecond},
			&ucli.Uint64Flag{Name: "snapshot-threshold", Usage: "snapshot and compact the raft log after this many new entries", Value: 8192},
			&ucli.DurationFlag{Name: "snapshot-interval", Usage: "how often raft checks --snapshot-threshold", Value: 30 * time.Second},
			&ucli.StringFlag{Name: "log-store", Usage: "raft log store: wal (raft/walstore, one fdatasync per batch), raftwal (hashicorp/raft-wal v0.4.1, one fsync per batch; experimental, see README) or bolt (raft-boltdb, two fsyncs per batch); each keeps its own files, so switch only on a fresh or re-joining server", Value: "wal"},
			&ucli.BoolFlag{Name: "group-commit", Usage: "commit concurrent writes that arrive while a commit is in flight as one raft entry; false sends each as its own entry (the previous hot path, for comparison benchmarks)", Value: true},
			&ucli.DurationFlag{Name: "task-timeout", Usage: "give up a node's hygiene task (erase, image, firmware) that has had no result for `DURATION`: the ledger records it interrupted and the node's cleaning tries again (three failures quarantine it); size it above the slowest full-disk erase of your nodes", Value: control.DefaultTaskTimeout},
			&ucli.DurationFlag{Name: "job-retention", Usage: "move finished jobs and hygiene-ledger entries older than `DURATION` out of the replicated state into each server's archive (DATADIR/archive), where 'ibex show JOB' and 'ibex nodes history NODE' still find them; 0 keeps everything in the state. A server that catches up from a snapshot has no archive of what expired before it (the other servers do)", Value: 7 * 24 * time.Hour},
			&ucli.Uint64Flag{Name: "trailing-logs", Usage: "entries kept behind a snapshot for lagging followers (default: the threshold)"},
			&ucli.StringFlag{Name: "data-dir", Usage: "state `DIR` (default ./.ibex-dev with --dev)"},
			&ucli.StringFlag{Name: "listen", Usage: "gRPC API `ADDR`", Value: "127.0.0.1:7700"},
			&ucli.StringFlag{Name: "http", Usage: "dashboard, REST API (/v1/), /metrics and /healthz `ADDR` (empty disables)", Value: "127.0.0.1:7702"},
			&ucli.StringFlag{Name: "raft-addr", Usage: "raft transport `ADDR`", Value: "127.0.0.1:7701"},
			&ucli.StringFlag{Name: "node-id", Usage: "raft server id", Value: "ibexd-1"},
			&ucli.IntFlag{Name: "spines", Usage: "simulated fabric: spine switches", Value: topology.DefaultFatTree.Spines},
			&ucli.IntFlag{Name: "leaves", Usage: "simulated fabric: leaf switches", Value: topology.DefaultFatTree.Leaves},
			&ucli.IntFlag{Name: "nodes-per-leaf", Usage: "simulated fabric: nodes under each leaf", Value: topology.DefaultFatTree.NodesPerLeaf},
			&ucli.StringFlag{Name: "fabric", Usage: "subnet manager: sim (in memory), ibsim (real OpenSM on an ibsim fabric; falls back to sim if not installed), ufm (NVIDIA UFM REST) or off; default sim with --dev/--simulate, and required on real machines (ufm or off)"},
			&ucli.StringFlag{Name: "ufm-url", Usage: "UFM base `URL` (--fabric=ufm)"},
			&ucli.StringFlag{Name: "ufm-user", Usage: "UFM user (--fabric=ufm)"},
			&ucli.StringFlag{Name: "ufm-password-file", Usage: "`FILE` with the UFM password, mode 0600 (--fabric=ufm)"},
			&ucli.DurationFlag{Name: "health-every", Usage: "how often the leader reads port state and counters (--fabric=ibsim)", Value: 30 * time.Second},
			&ucli.StringFlag{Name: "isolation", Usage: "cluster policy: `links` makes every multi-node job link-isolated (its traffic between leaves uses only uplinks no other isolated job holds); none leaves it to each job's --isolation. The leader applies it at submission: give every server the same", Value: "none"},
			&ucli.StringFlag{Name: "policy", Usage: "scheduling `POLICY`: ibex (fewest leaves, fair share, topology-aware backfill) or ibex-slowdown (ibex, plus priority for jobs whose bounded slowdown grows and reservations of the head job's own nodes: more jobs on their fewest leaves at lower slowdown, a little less utilization; README, Placement); easy, fcfs, firstfit and the other ibex-trace policies for comparison. The leader schedules with its own: give every server the same", Value: "ibex"},
			&ucli.BoolFlag{Name: "pkey-per-tenant", Usage: "one shared partition per tenant instead of one per allocation"},
			&ucli.DurationFlag{Name: "pkey-cooldown", Usage: "how long a released partition key rests before reuse", Value: 30 * time.Second},
			&ucli.StringFlag{Name: "agent-listen", Usage: "serve node agents (mutual TLS) on `ADDR`; empty: no agents"},
			&ucli.StringFlag{Name: "gossip-bind", Usage: "memberlist `ADDR` for agent liveness (needs --agent-listen)"},
			&ucli.StringSliceFlag{Name: "gossip-seed", Usage: "other servers' gossip `ADDR` (repeatable)"},
			&ucli.DurationFlag{Name: "gossip-probe-interval", Usage: "how often each gossip member probes another; a killed agent is marked down after roughly 4-8 intervals", Value: 500 * time.Millisecond},
			&ucli.StringFlag{Name: "image", Usage: "`NAME:VERSION` from the image catalog that agent nodes carry when clean"},
			&ucli.StringFlag{Name: "secrets-key-file", Usage: "key-encryption key `FILE` that seals the cluster CA key, the gossip key and BMC logins in the replicated state; the same file on every server, needed before it starts (default DATADIR/secrets.key: created by a server bootstrapping alone, copied from secrets.key next to --admin-token-file by servers bootstrapping with --peers or joining)"},
			&ucli.StringFlag{Name: "firmware-policy", Usage: "JSON `FILE`: [{\"psid\":..., \"version\":..., \"sha256\":..., \"file\":...}] pinned HCA firmware"},
			&ucli.StringFlag{Name: "cli-config", Usage: "where --dev writes the CLI config `FILE`", Value: cli.DefaultConfigPath()},
			&ucli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to `FILE` until exit (\"{id}\" is replaced by --node-id)"},
			&ucli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
			&ucli.StringFlag{Name: "log-format", Usage: "text or json (one object per line, raft's lines included)", Value: "text"},
		},
		Action: run,
	}
	app.Flags = append(app.Flags, simAgentFlags...)
	app.Flags = append(app.Flags, simBMCFlag)
	app.Flags = append(app.Flags, tlsFlags()...)
	app.Flags = append(app.Flags, simSysfsFlag, debugListenFlag)
	withConfigFile(app)
	return app
}

func run(c *ucli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	var handler slog.Handler
	switch f := c.String("log-format"); f {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	default:
		return fmt.Errorf("--log-format %q: want text or json", f)
	}
	log := slog.New(handler)
	dataDir := c.String("data-dir")
	if dataDir == "" && c.Bool("dev") {
		dataDir = ".ibex-dev"
	}
	cfg := server.Config{
		DataDir: dataDir, NodeID: c.String("node-id"), Listen: c.String("listen"), RaftAddr: c.String("raft-addr"), HTTPListen: c.String("http"),
		Bootstrap: c.Bool("dev") || c.Bool("bootstrap"), Simulate: c.Bool("dev") || c.Bool("simulate"),
		AgentListen: c.String("agent-listen"), GossipBind: c.String("gossip-bind"), GossipSeeds: c.StringSlice("gossip-seed"),
		Gossip:       agentgw.GossipTimings{ProbeInterval: c.Duration("gossip-probe-interval"), ProbeTimeout: c.Duration("gossip-probe-interval") * 2 / 5, SuspicionMult: 3},
		DefaultImage: c.String("image"),
		HealthEvery:  c.Duration("health-every"),
		Keys:         pkeypool.Pool{Cooldown: c.Duration("pkey-cooldown"), PerTenant: c.Bool("pkey-per-tenant")},
		Join:         c.String("join"), AdminTokenFile: c.String("admin-token-file"),
		HeartbeatTimeout: c.Duration("heartbeat-timeout"), ElectionTimeout: c.Duration("election-timeout"),
		JobRetention:      c.Duration("job-retention"),
		TaskTimeout:       c.Duration("task-timeout"),
		SnapshotThreshold: c.Uint64("snapshot-threshold"), SnapshotInterval: c.Duration("snapshot-interval"), TrailingLogs: c.Uint64("trailing-logs"), LogStore: c.String("log-store"),
		Logger: log,
	}
	cfg.NoGroupCommit = !c.Bool("group-commit")
	iso, err := scheduler.ParseIsolation(c.String("isolation"))
	if err != nil {
		return fmt.Errorf("--isolation: %w", err)
	}
	cfg.Isolation = iso
	if _, err := scheduler.PolicyByName(c.String("policy")); err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	cfg.Policy = c.String("policy")
	cfg.SecretsKeyFile = c.String("secrets-key-file")
	if path := c.String("firmware-policy"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--firmware-policy: %w", err)
		}
		if err := json.Unmarshal(b, &cfg.FirmwarePins); err != nil {
			return fmt.Errorf("--firmware-policy %s: %w", path, err)
		}
	}
	if cfg.JobRetention < 0 {
		return fmt.Errorf("--job-retention %s: want 0 (keep everything) or a positive duration", cfg.JobRetention)
	}
	if cfg.TaskTimeout <= 0 {
		return fmt.Errorf("--task-timeout %s: want a positive duration", cfg.TaskTimeout)
	}
	peers, err := parsePeers(c.String("peers"))
	if err != nil {
		return err
	}
	cfg.Peers = peers
	applyTLSFlags(c, &cfg)
	tuneGC() // gctune.go
	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(strings.ReplaceAll(path, "{id}", c.String("node-id")))
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := startDebugListener(c); err != nil { // debuglisten.go
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if simAgentsOn(c) && !cfg.Simulate {
		return errors.New("--sim-agents runs the agents of simulated nodes: it needs --dev or --simulate")
	}
	if simAgentsOn(c) && (len(cfg.Peers) > 1 || cfg.Join != "") {
		// The agents would only know this server, and enroll and connect
		// only while it leads.
		return errors.New("--sim-agents runs the simulated agents inside one server and works with a single server only; with --peers or --join add --sim-agents=false (or run ibex-agent processes)")
	}
	if c.Bool("sim-bmc") && !simAgentsOn(c) {
		return errors.New("--sim-bmc switches the simulated nodes' in-process agents: it needs --sim-agents (the default of --dev)")
	}
	if c.String("sim-sysfs") != "" && !cfg.Simulate {
		return errors.New("--sim-sysfs writes the sysfs of simulated hosts: it needs --simulate")
	}
	var sim *simAgents
	fabric := fabricFlags{Mode: c.String("fabric"), DataDir: cfg.DataDir,
		UFMURL: c.String("ufm-url"), UFMUser: c.String("ufm-user"), UFMPasswordFile: c.String("ufm-password-file")}
	if !cfg.Simulate {
		if err := setupRealFabric(fabric, &cfg, log); err != nil {
			return err
		}
	}
	if cfg.Simulate {
		if cfg.DataDir == "" {
			return errors.New("a data directory is required (--data-dir)")
		}
		cfg.Fabric = topology.FatTree{Spines: c.Int("spines"), Leaves: c.Int("leaves"), NodesPerLeaf: c.Int("nodes-per-leaf")}
		if fabric.Mode == "" {
			fabric.Mode = FabricSim
		}
		if !simAgentsOn(c) {
			// Simulated nodes without agents: jobs and execs run here, on
			// the same job directories. With simulated agents every node
			// is reached through its agent (server/route.go).
			jobsDir := c.String("jobs-dir")
			if jobsDir == "" {
				jobsDir = filepath.Join(cfg.DataDir, "jobs")
			}
			runner, err := localexec.New(jobsDir)
			if err != nil {
				return err
			}
			cfg.Exec = ctlexec.New(runner)
			cfg.Launcher = &nodeexec.Local{Jobs: runner, Options: nodeexec.Options{IbexBinary: nodeexec.FindIbexBinary()}, Log: log}
		}
		stopFabric, rawTables, err := setupFabric(ctx, fabric, &cfg, log)
		defer stopFabric()
		if err != nil {
			return err
		}
		if simAgentsOn(c) {
			if sim, err = setupSimAgents(c, &cfg, rawTables, log, level); err != nil {
				return err
			}
		}
		if dir := c.String("sim-sysfs"); dir != "" {
			if simAgentsOn(c) {
				return errors.New("--sim-sysfs is for ibex-agent processes of their own; the in-process agents of --sim-agents have theirs: add --sim-agents=false")
			}
			if err := setupSimSysfs(dir, &cfg, rawTables, log); err != nil {
				return err
			}
		}
	}
	s, err := server.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Stop()
	if sim != nil {
		defer sim.wait() // before s.Stop: the agents leave while the server listens
		if err := sim.start(ctx, s); err != nil {
			return err
		}
	}
	if c.Bool("dev") {
		if sim != nil {
			// The agents clean their nodes first (the scheduler starts
			// with Run): "up" once that is done.
			go func() {
				if sim.waitCleaned(ctx); ctx.Err() == nil {
					announceDev(c, s, cfg, sim)
				}
			}()
		} else {
			announceDev(c, s, cfg, sim)
		}
	}
	return s.Run(ctx)
}

// parsePeers reads "id=raft=api,..." into a peer list.
func parsePeers(s string) ([]server.Peer, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []server.Peer
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(item), "=")
		if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("--peers: %q is not ID=RAFTADDR=APIADDR", item)
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("--peers: server id %q twice", f[0])
		}
		seen[f[0]] = true
		out = append(out, server.Peer{ID: f[0], RaftAddr: f[1], APIAddr: f[2]})
	}
	return out, nil
}

// announceDev writes the CLI config and tells the user how to use the
// cluster.
func announceDev(c *ucli.Context, s *server.Server, cfg server.Config, sim *simAgents) {
	out := c.App.Writer
	path, howto := "", ""
	if s.AdminToken != "" && c.String("cli-config") != "" {
		var err error
		path, howto, err = writeDevCLIConfig(c.String("cli-config"), c.IsSet("cli-config"), devCLIConfig(s))
		if err != nil {
			fmt.Fprintf(out, "warning: %v\n", err)
		}
	}
	abs, _ := filepath.Abs(cfg.DataDir)
	f := cfg.Fabric
	agents := "none: nodes are simulated without agents (--sim-agents=false)"
	if sim != nil {
		agents = fmt.Sprintf("%d in-process, on %s and gossip %s; nodes in %s", len(sim.fleet.Nodes), cfg.AgentListen, cfg.GossipBind, sim.root)
	}
	fmt.Fprintf(out, `ibexd --dev is up
  API          %s
  dashboard    http://%s/
  data         %s (raft log, snapshots, job output; survives restarts)
  fabric       simulated fat tree: %d spines, %d leaves, %d nodes per leaf (%d nodes)
  agents       %s
  CLI config   %s (admin token)
  TLS          %s

In another shell:%s
  ./bin/ibex nodes
  ./bin/ibex submit -N 4 -t 5m --name hello -- hostname
  ./bin/ibex queue --all
Stop with Ctrl-C.
`, s.Addr(), s.HTTPAddr(), abs, f.Spines, f.Leaves, f.NodesPerLeaf, f.Leaves*f.NodesPerLeaf, agents, path, devTLSLine(s), howto)
}
