// Command ibex-agent is the ibex node agent; see `ibex-agent --help`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/ibex-hpc/ibex/internal/version"
	"github.com/ibex-hpc/ibex/nodeagent/agent"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

func main() {
	host, _ := os.Hostname()
	app := &ucli.App{
		Name:            "ibex-agent",
		Version:         version.String(),
		HideHelpCommand: true,
		Usage:           "the ibex node agent: runs the tenant's jobs; reimages, erases and pins firmware between tenants",
		Description: `ibex-agent runs on every bare-metal node. It keeps a stream open to ibexd,
reports the node's hardware, runs the jobs ibexd sends (in --job-root, after
checking the job's partition key in the HCA's P_Key table), and carries out
the hygiene tasks between tenants (write an OS image, erase the disk, pin
HCA firmware).

Enrollment (once per node):
  1. An admin runs ` + "`ibex agent token NODE`" + `, which prints a one-time join
     token for the node, the cluster CA pin (sha256:<64 hex>) and the
     servers' agent addresses (ibexd --agent-listen).
  2. Start the agent with both:
       IBEX_JOIN_TOKEN=<token> ibex-agent --node node001 --server 10.0.0.1:7703 \
         --ca-pin sha256:<hex> --disk /dev/nvme0n1 --firmware-dir /srv/fw
     The agent generates its key in --data-dir (it never leaves the node),
     checks that the server's certificate chain holds the pinned CA before
     it sends the token, and stores the certificate it gets back.
  3. Later starts need neither token nor pin: the agent uses the stored
     certificate (mutual TLS) and trusts only the stored CA.

If ibexd refuses the certificate (the node was revoked), the agent logs it
and retries every --refused-retry. To enroll again, remove node.crt from
--data-dir and start with a new join token.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "node", Usage: "this node's ibex `NAME` (the certificate CN)", Value: host},
			&ucli.StringSliceFlag{Name: "server", Usage: "ibexd agent API `ADDR` (host:port); repeat or comma-separate", EnvVars: []string{"IBEX_AGENT_SERVERS"}},
			&ucli.StringFlag{Name: "server-name", Usage: "DNS name the server certificates must carry", Value: agent.DefaultServerName},
			&ucli.StringFlag{Name: "data-dir", Usage: "key, certificates, gossip settings and the task and job journals (tasks.log, jobs.log) `DIR`", Value: "/var/lib/ibex-agent"},
			&ucli.StringFlag{Name: "join-token", Usage: "one-time enrollment `TOKEN` (prefer the environment: argv is public)", EnvVars: []string{"IBEX_JOIN_TOKEN"}},
			&ucli.StringFlag{Name: "join-token-file", Usage: "read the join token from `FILE`"},
			&ucli.StringFlag{Name: "ca-pin", Usage: "cluster CA pin `sha256:HEX`, printed with the token by ibex agent token", EnvVars: []string{"IBEX_CA_PIN"}},
			&ucli.StringFlag{Name: "ca-file", Usage: "cluster CA certificate `FILE` (PEM), instead of or with --ca-pin"},
			&ucli.StringFlag{Name: "disk", Usage: "imaging and erase target `PATH` (block device, or a file on simulated nodes)"},
			&ucli.StringFlag{Name: "disk-kind", Usage: "file, hdd, ssd or nvme (default: detect)"},
			&ucli.StringFlag{Name: "eraser", Usage: "overwrite (every byte; any disk, slow) or block (drive erase commands; not yet proven on real drives)", Value: "overwrite"},
			&ucli.StringFlag{Name: "device", Usage: "HCA `DEVICE` to pin (mlx5_0, PCI address; default: every HCA in sysfs)"},
			&ucli.StringFlag{Name: "boot-mode", Usage: "what this boot is, reported to ibexd for deployments through the BMC: ramdisk (the deploy ramdisk) or disk (the image on --disk, hashed at start); empty reports nothing"},
			&ucli.StringFlag{Name: "boot-record", Usage: "`FILE` where a verified image task leaves the image's name, size and digest for the next boot from disk (needs --boot-mode)"},
			&ucli.StringFlag{Name: "firmware-dir", Usage: "`DIR` holding the firmware images pins name"},
			&ucli.StringFlag{Name: "mstflint", Usage: "mstflint binary `PATH` (default from PATH)"},
			&ucli.StringFlag{Name: "sysfs-root", Usage: "`DIR` holding sys/class/infiniband", Value: "/"},
			&ucli.StringFlag{Name: "job-root", Usage: "`DIR` for the jobs' directories and output; must lie outside --data-dir (empty: run no jobs)", Value: "/var/lib/ibex-jobs"},
			&ucli.StringFlag{Name: "cgroup", Usage: "cgroup v2 `DIR` the agent owns (systemd: Delegate=yes); every job gets its own cgroup below it, killed whole on cancel, time limit and cleaning. \"auto\": ibex.slice under this host's cgroup2 mount; \"none\": process groups only (daemonised children escape: for tests)", Value: "auto"},
			&ucli.StringFlag{Name: "job-user", Usage: "run jobs as this unprivileged `USER` (one uid for every tenant on this node; tenants never share a node at once). \"root\" lets tenants own the machine, as bare-metal renters expect; the agent's key and journals stay out of reach either way (--data-dir is 0700)", Value: "nobody"},
			&ucli.BoolFlag{Name: "sweep-job-user", Value: true, Usage: "cleaning also kills every process of --job-user outside the job's cgroup started since this node's first job (cron, at, setuid helpers), and the hand-out check counts them; give jobs a user nothing else on the node runs as"},
			&ucli.DurationFlag{Name: "pkey-wait", Value: agent.DefaultPKeyWait, Usage: "how long a job waits for its partition key in the HCA's P_Key table before it is refused"},
			&ucli.StringFlag{Name: "gossip-bind", Usage: "gossip `ADDR` (host:port)", Value: agent.DefaultGossipBind},
			&ucli.StringFlag{Name: "gossip-advertise", Usage: "gossip `ADDR` others reach this node at, if not the bind address"},
			&ucli.BoolFlag{Name: "no-gossip", Usage: "do not join the gossip membership"},
			&ucli.DurationFlag{Name: "gossip-probe-interval", Value: agent.DefaultGossipProbeInterval, Usage: "gossip failure-detection probe interval"},
			&ucli.DurationFlag{Name: "gossip-probe-timeout", Value: agent.DefaultGossipProbeTimeout, Usage: "gossip probe timeout"},
			&ucli.DurationFlag{Name: "refused-retry", Value: agent.DefaultRefusedRetry, Usage: "wait between attempts while the server refuses the certificate"},
			&ucli.DurationFlag{Name: "keepalive", Usage: "HTTP/2 ping interval on the stream (0: off; ibexd must allow it)"},
			&ucli.StringFlag{Name: "bmc-endpoint", Usage: "Redfish BMC base `URL`, for the inventory (optional)"},
			&ucli.StringFlag{Name: "bmc-credentials-file", Usage: "BMC credentials `FILE` ({\"username\":..., \"password\":...}, mode 0600)"},
			&ucli.BoolFlag{Name: "bmc-insecure", Usage: "skip BMC TLS verification (self-signed BMC certificates; prefer --bmc-ca-file)"},
			&ucli.StringFlag{Name: "bmc-ca-file", Usage: "PEM `FILE` of the CA the BMC's TLS certificate must chain to"},
			&ucli.StringFlag{Name: "bmc-system", Usage: "Redfish ComputerSystem `ID` of this node, on BMCs with several (blades, Cray EX node cards)"},
			&ucli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
		},
		Action: run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "ibex-agent:", err)
		os.Exit(1)
	}
}

func run(c *ucli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	token := c.String("join-token")
	if f := c.String("join-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--join-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	// Jobs inherit the agent's environment: the token must not be in it.
	os.Unsetenv("IBEX_JOIN_TOKEN")
	var servers []string
	for _, s := range c.StringSlice("server") {
		servers = append(servers, strings.Split(s, ",")...)
	}
	a := &agent.Agent{
		Config: agent.Config{
			Node: c.String("node"), Servers: servers, ServerName: c.String("server-name"), DataDir: c.String("data-dir"),
			JoinToken: token, CAPin: c.String("ca-pin"), CAFile: c.String("ca-file"),
			SysfsRoot: c.String("sysfs-root"), Disk: c.String("disk"), DiskKind: c.String("disk-kind"),
			Device: c.String("device"), FirmwareDir: c.String("firmware-dir"),
			GossipBind: c.String("gossip-bind"), GossipAdvertise: c.String("gossip-advertise"), NoGossip: c.Bool("no-gossip"),
			GossipProbeInterval: c.Duration("gossip-probe-interval"), GossipProbeTimeout: c.Duration("gossip-probe-timeout"),
			RefusedRetry: c.Duration("refused-retry"), Keepalive: c.Duration("keepalive"),
			BootMode: agent.BootMode(c.String("boot-mode")), BootRecord: c.String("boot-record"),
		},
		Flasher:  &firmware.Mstflint{Path: c.String("mstflint")},
		PKeyWait: c.Duration("pkey-wait"),
		Logger:   log,
	}
	if root := c.String("job-root"); root != "" {
		var opts localexec.Options
		switch cg := c.String("cgroup"); cg {
		case "auto":
			mnt, err := localexec.Cgroup2Mount()
			if err != nil {
				return fmt.Errorf("--cgroup auto: %w (jobs need a cgroup v2 tree; --cgroup none only for tests)", err)
			}
			opts.CgroupDir = filepath.Join(mnt, "ibex.slice")
		case "none", "":
		default:
			opts.CgroupDir = cg
		}
		if u := c.String("job-user"); u != "" && u != "root" {
			ju, err := localexec.LookupJobUser(u)
			if err != nil {
				return fmt.Errorf("--job-user: %w", err)
			}
			opts.User = ju
			opts.SweepUser = c.Bool("sweep-job-user")
		}
		r, err := localexec.NewWithOptions(root, opts)
		if err != nil {
			// A node whose cgroup tree is not writable is refused, not
			// half-used: its jobs could not be killed whole.
			return fmt.Errorf("jobs cannot run on this node: %w", err)
		}
		a.Jobs = r
	}
	// Overwrite is the default because it is correct on any disk; the
	// per-kind drive commands of erase.Block are not yet proven.
	switch c.String("eraser") {
	case "overwrite":
		a.Eraser = &erase.Overwrite{}
	case "block":
		a.Eraser = &erase.Block{}
	default:
		return fmt.Errorf("--eraser %q: want overwrite or block", c.String("eraser"))
	}
	if ep := c.String("bmc-endpoint"); ep != "" {
		if b := newBMC(ctx, log, bmc.Config{Endpoint: ep, Insecure: c.Bool("bmc-insecure"), CAFile: c.String("bmc-ca-file"),
			SystemID: c.String("bmc-system")}, c.String("bmc-credentials-file")); b != nil {
			a.BMC = b
			defer b.Close()
		}
	}
	return a.Start(ctx)
}

// newBMC returns the node's BMC, connected lazily: an unreachable BMC
// neither delays the agent's start nor stays disabled until a restart
// (bmc.Lazy retries it). Only a configuration that can never work (bad
// endpoint, unreadable credentials or CA file) disables it, with a
// warning: the BMC only adds to the inventory.
func newBMC(ctx context.Context, log *slog.Logger, cfg bmc.Config, credFile string) *bmc.Lazy {
	if credFile != "" {
		cr, err := bmc.ReadCredentialsFile(credFile)
		if err != nil {
			log.Warn("BMC disabled", "err", err)
			return nil
		}
		cfg.Username, cfg.Password = cr.Username, cr.Password
	}
	b, err := bmc.NewLazy(cfg)
	if err != nil {
		log.Warn("BMC disabled", "err", err)
		return nil
	}
	// Connect in the background so that the first Hello usually finds
	// the BMC ready; the agent starts either way.
	go func() {
		if err := b.Connect(ctx); err != nil && ctx.Err() == nil {
			log.Warn("BMC unreachable; will retry", "endpoint", cfg.Endpoint, "err", err)
		}
	}()
	return b
}
