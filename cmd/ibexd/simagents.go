package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server"
	"github.com/ibex-hpc/ibex/server/control"
)

// Simulated nodes with agents: with --sim-agents (the default of --dev),
// every simulated host gets a simnode.Node whose real agent runs in this
// process and reaches this server the way ibex-agent on a real machine
// does: join token, mutual TLS on --agent-listen, gossip on --gossip-bind,
// hygiene tasks on fake hardware. --sim-agents=false keeps the older
// agentless simulation (cleaning by the local executor), for comparison.

var simAgentFlags = []ucli.Flag{
	&ucli.BoolFlag{Name: "sim-agents", Usage: "run one in-process node agent per simulated host, with fake sysfs, disk, HCA firmware and BMC, through enrollment, the mutual-TLS task stream and gossip (default true with --dev; needs --dev or --simulate)"},
	&ucli.StringFlag{Name: "sim-root", Usage: "`DIR` of the simulated nodes (sysfs, agent data, job directories); must be outside --data-dir (default: DATADIR-nodes next to it)"},
}

// Gossip timings of the simulated agents. Every agent is a memberlist
// member of its own, all in this process: with memberlist's LAN defaults
// (probe 1 s, gossip 200 ms) 32 idle agents cost ibexd about 3.2% of a
// core, with these about 1.5% (64 agents: 2.7%; none: 0.3%), measured
// as utime+stime over 30 s. An agent that dies without leaving is
// declared dead after memberlist's suspicion timeout, 4*log10(N+1)
// probe intervals (about 12 s for 32 nodes); the server's own member
// keeps --gossip-probe-interval.
const (
	simProbeInterval  = 2 * time.Second
	simProbeTimeout   = 500 * time.Millisecond
	simGossipInterval = time.Second
)

// simAgentsOn says whether simulated agents run: --sim-agents if given,
// else --dev.
func simAgentsOn(c *ucli.Context) bool {
	if c.IsSet("sim-agents") {
		return c.Bool("sim-agents")
	}
	return c.Bool("dev")
}

// simAgents is the fleet of in-process simulated nodes.
type simAgents struct {
	fleet  *simnode.Fleet
	root   string
	log    *slog.Logger
	client *client.Client
	quiet  *atomic.Bool // mutes the agents once ibexd stops
	bmc    bool         // --sim-bmc (simbmc.go)
	cfg    server.Config
}

// setupSimAgents builds the simulated nodes' hardware and points cfg at
// them: agent and gossip listeners (defaults next to --listen), the
// firmware pin of the simulated HCAs, and the subnet manager wrapped in a
// simnode.Mirror so the nodes' sysfs P_Key tables follow the fabric (raw,
// when the fabric can read raw tables: ibsim). Agents start later, in
// start, once the server can enroll them.
func setupSimAgents(c *ucli.Context, cfg *server.Config, raw simnode.RawTables, log *slog.Logger, level slog.Level) (*simAgents, error) {
	if err := simListenDefaults(cfg, c.IsSet("agent-listen"), c.IsSet("gossip-bind")); err != nil {
		return nil, err
	}
	root, err := simRoot(c.String("sim-root"), cfg.DataDir)
	if err != nil {
		return nil, err
	}
	// 32-64 agents logging every task at info would bury ibexd's own log:
	// they log warnings and errors, or everything with --log-level=debug.
	agentLevel := max(level, slog.LevelWarn)
	if level <= slog.LevelDebug {
		agentLevel = level
	}
	quiet := &atomic.Bool{}
	agentLog := slog.New(levelHandler{Handler: log.Handler(), level: agentLevel, quiet: quiet}).With("component", "simnode")
	server := cfg.AgentListen
	if host, port, err := net.SplitHostPort(server); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
		server = net.JoinHostPort("127.0.0.1", port)
	}
	gossipHost, _, _ := net.SplitHostPort(cfg.GossipBind)
	if gossipHost == "" || net.ParseIP(gossipHost).IsUnspecified() {
		gossipHost = "127.0.0.1"
	}
	var specs []simnode.Spec
	for _, h := range cfg.Hosts {
		specs = append(specs, simnode.Spec{Name: h.Name, Ports: h.Ports})
	}
	probe, timeout, gossip := simGossipTimings(len(specs)) // simscale.go
	if !c.IsSet("gossip-probe-interval") {
		cfg.Gossip = simServerGossip(cfg.Gossip, len(specs))
	}
	ncfg := simnode.Config{Root: root, Servers: []string{server}, Power: c.Bool("sim-bmc"),
		GossipSeeds: append([]string{cfg.GossipBind}, cfg.GossipSeeds...), GossipHost: gossipHost,
		GossipProbeInterval: probe, GossipProbeTimeout: timeout, GossipInterval: gossip,
		Logger: agentLog}
	if err := simJobIsolation(&ncfg, root, log); err != nil {
		return nil, err
	}
	fleet, err := simnode.NewFleet(ncfg, specs)
	if err != nil {
		return nil, err
	}
	pin := simnode.Pin()
	pinned := false
	for _, p := range cfg.FirmwarePins {
		pinned = pinned || p.PSID == pin.PSID
	}
	if !pinned {
		cfg.FirmwarePins = append(cfg.FirmwarePins, control.FirmwarePin{PSID: pin.PSID, Version: pin.Version, SHA256: pin.SHA256, File: pin.File})
	}
	if cfg.SM != nil {
		cfg.SM = &simnode.Mirror{Driver: cfg.SM, Read: raw, Nodes: fleet, Ports: fleet.Ports(), Log: log.With("component", "simnode")}
	}
	return &simAgents{fleet: fleet, root: root, log: log, quiet: quiet, bmc: ncfg.Power, cfg: *cfg}, nil
}

// simListenDefaults gives agents a listener and the server a gossip
// member when the flags leave them unset: the --listen host with its port
// + 3 and + 4 (7703 and 7704 for the default 7700, next to raft's 7701
// and the dashboard's 7702), the same on every restart with the same
// flags, like a real server's addresses.
func simListenDefaults(cfg *server.Config, agentSet, gossipSet bool) error {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", cfg.Listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535-4 {
		return fmt.Errorf("--listen %q: simulated agents need a fixed API port to place --agent-listen and --gossip-bind next to it; set those two flags", cfg.Listen)
	}
	if !agentSet {
		cfg.AgentListen = net.JoinHostPort(host, strconv.Itoa(p+3))
	}
	if !gossipSet {
		cfg.GossipBind = net.JoinHostPort(host, strconv.Itoa(p+4))
	}
	if cfg.AgentListen == "" || cfg.GossipBind == "" {
		return errors.New("simulated agents need --agent-listen and --gossip-bind (leave them unset for defaults next to --listen)")
	}
	if _, port, err := net.SplitHostPort(cfg.GossipBind); err != nil || port == "0" {
		return fmt.Errorf("--gossip-bind %q: simulated agents need a fixed gossip port", cfg.GossipBind)
	}
	return nil
}

// simRoot resolves --sim-root: default the data directory's sibling
// "<datadir>-nodes". It must not be inside the data directory, whose
// admin token a job could otherwise reach.
func simRoot(flag, dataDir string) (string, error) {
	data, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	root := flag
	if root == "" {
		root = data + "-nodes"
	}
	if root, err = filepath.Abs(root); err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(data, root); err == nil && (rel == "." || filepath.IsLocal(rel)) {
		return "", fmt.Errorf("--sim-root %s is inside --data-dir %s: simulated nodes' jobs could read the admin token; choose a directory outside it", root, data)
	}
	if rel, err := filepath.Rel(root, data); err == nil && filepath.IsLocal(rel) {
		return "", fmt.Errorf("--sim-root %s contains --data-dir %s: simulated nodes' jobs could read the admin token; choose a directory outside it", root, data)
	}
	return root, nil
}

// start runs the agents, enrolling them through the server's admin API,
// and waits (at most a minute) until every node is enrolled, so that the
// scheduler, which starts after, never gives a job to a node that has
// not yet got its agent. The agents stop when ctx ends; wait waits for
// them.
func (a *simAgents) start(ctx context.Context, s *server.Server) error {
	if s.AdminToken == "" {
		return errors.New("simulated agents are enrolled with the admin token, and this server has none in its --admin-token-file")
	}
	trust := client.WithCAPin(s.CAPin())
	if s.CAPin() == "" {
		trust = client.WithPlaintext()
	}
	cl, err := client.New(s.Addr(), s.AdminToken, trust)
	if err != nil {
		return err
	}
	a.client = cl
	a.fleet.Start(ctx, simnode.AdminAPI{Client: cl})
	go func() {
		// Dozens of agents leaving the gossip pool at once, while the
		// server leaves too, only log each other's departures.
		<-ctx.Done()
		a.quiet.Store(true)
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	start := time.Now()
	if err := a.fleet.WaitEnrolled(wctx); err != nil {
		return fmt.Errorf("simulated agents: %w", err)
	}
	a.log.Info("simulated agents enrolled", "nodes", len(a.fleet.Nodes), "root", a.root, "took", time.Since(start).Round(time.Millisecond))
	if a.bmc {
		return a.serveSimBMCs(ctx, a.cfg)
	}
	return nil
}

// waitCleaned waits (at most a minute) until no node is cleaning, i.e.
// the agents' first hygiene after enrollment is over, and logs nodes
// that did not end ready.
func (a *simAgents) waitCleaned(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		r, err := a.client.Nodes.List(a.client.Context(ctx), &pb.ListNodesRequest{})
		if err == nil {
			cleaning, notReady := 0, map[string]string{}
			for _, n := range r.Nodes {
				if n.State == "cleaning" {
					cleaning++
				}
				if n.State != "ready" {
					notReady[n.Name] = n.State
				}
			}
			if cleaning == 0 {
				if len(notReady) > 0 {
					a.log.Warn("simulated nodes not ready after their first cleaning (see `ibex nodes history NODE`)", "nodes", notReady)
				}
				return
			}
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				a.log.Warn("simulated nodes still cleaning after a minute (see `ibex nodes`)")
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// wait waits for the agents to stop (they leave the gossip pool first).
func (a *simAgents) wait() {
	a.fleet.Wait()
	if a.client != nil {
		a.client.Close()
	}
}

// levelHandler filters a handler's records by its own level, and drops
// them all once quiet is set.
type levelHandler struct {
	slog.Handler
	level slog.Level
	quiet *atomic.Bool
}

func (h levelHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level && !h.quiet.Load()
}
func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{Handler: h.Handler.WithAttrs(as), level: h.level, quiet: h.quiet}
}
func (h levelHandler) WithGroup(g string) slog.Handler {
	return levelHandler{Handler: h.Handler.WithGroup(g), level: h.level, quiet: h.quiet}
}

// simJobIsolation: when ibexd --dev runs as root, the simulated nodes' jobs
// run as nobody, in their own cgroups, with their directories in a place
// nobody can reach (/var/tmp/ibex-sim-<hash of the sim root>) and outside
// the data dir: a tenant's job must not read the admin token, the raft log
// or another tenant's output. As another user the jobs run as that user
// (the data dir is 0700), without cgroups.
func simJobIsolation(cfg *simnode.Config, root string, log *slog.Logger) error {
	if os.Geteuid() != 0 {
		return nil
	}
	user, err := localexec.LookupJobUser("nobody")
	if err != nil {
		return fmt.Errorf("simulated nodes' job user: %w", err)
	}
	name := simnode.IsolationName(root)
	cfg.JobUser = user
	cfg.JobsRoot = filepath.Join("/var/tmp", name)
	if mnt, err := localexec.Cgroup2Mount(); err == nil {
		cfg.CgroupParent = filepath.Join(mnt, name)
	} else {
		log.Warn("no cgroup v2 on this host: simulated jobs run in process groups (daemonised children can escape)", "err", err)
	}
	return nil
}
