package simnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/nodeagent/agent"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// Spec is one simulated node: its ibex name and the port GUIDs the
// simulated fabric gives it (one HCA port per GUID).
type Spec struct {
	Name  string
	Ports []sm.GUID
}

// Config is what every simulated node of a cluster shares.
type Config struct {
	// Root holds one directory per node (Root/<node>). It must not be
	// inside ibexd's data directory: the nodes' job directories are
	// there, and a tenant's job must not reach the admin token.
	Root string
	// Servers are ibexd's agent addresses (--agent-listen).
	Servers []string
	// GossipSeeds are the servers' gossip addresses (ibexd
	// --gossip-bind), joined besides those enrollment stored: a node
	// enrolled by an earlier run may hold stale ones.
	GossipSeeds []string
	// GossipHost is the address agents bind their gossip member to, each
	// on a port of its own the kernel picks; default 127.0.0.1.
	GossipHost string
	// GossipProbeInterval and GossipProbeTimeout tune the agents' failure
	// detection (zero: the agent's defaults).
	GossipProbeInterval time.Duration
	GossipProbeTimeout  time.Duration
	GossipInterval      time.Duration
	// Power makes the nodes' power their BMCs' (power.go, bmc.go): a node
	// starts powered on from its disk, its agent reports what it booted,
	// and its BMC's resets stop the agent and boot it again, into its
	// deploy ramdisk or from its disk.
	Power bool
	// FirmwareDir, optional, serves firmware files other than the
	// simulated HCAs' own (see firmwareStore).
	FirmwareDir string
	// DiskSize is each node's disk size; default DefaultDiskSize.
	DiskSize int64
	// JobUser, when set, runs the nodes' jobs as that user (ibexd --dev as
	// root: jobs must not read the data dir or each other's output).
	JobUser *localexec.JobUser
	// JobsRoot, when set, holds the nodes' job directories (JobsRoot/<node>)
	// instead of Root/<node>/jobs: a place the job user can reach.
	JobsRoot string
	// CgroupParent, when set, gives every node's jobs cgroups under
	// CgroupParent/<node> (a cgroup v2 directory ibexd owns).
	CgroupParent string
	// Logger receives the agents' logs (nil: slog.Default()).
	Logger *slog.Logger
}

// Node is one simulated machine: a directory with its fake sysfs, the
// agent's data directory and the job directory, the in-memory disk, HCA
// flasher, and the real agent.Agent wired to them.
type Node struct {
	Spec
	// Dir is Root/<name>; SysfsRoot, AgentDir and JobsDir are in it.
	Dir       string
	SysfsRoot string
	AgentDir  string
	JobsDir   string
	// Agent is the node's agent; Start runs it.
	Agent *agent.Agent
	// Jobs runs the node's job processes under JobsDir.
	Jobs *localexec.Runner

	cfg     Config
	pw      power // power.go
	sysfs   *sysfs
	disk    *memDisk
	flasher *flasher
}

// NewNode builds node spec's hardware under cfg.Root: a fresh sysfs tree
// (a simulated node boots with the P_Key table of a port no SM has
// touched yet), the disk, the HCA with the shipped firmware;
// and its agent, not yet started. lid is the first port's LID. The agent
// directory and the job directory persist across calls, like a real
// node's disks across reboots.
func NewNode(cfg Config, spec Spec, lid uint16) (*Node, error) {
	if cfg.Root == "" {
		return nil, errors.New("simnode: no root directory for the simulated nodes")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("simnode: no ibexd agent address (ibexd --agent-listen)")
	}
	if cfg.GossipHost == "" {
		cfg.GossipHost = "127.0.0.1"
	}
	if cfg.DiskSize <= 0 {
		cfg.DiskSize = DefaultDiskSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dir := filepath.Join(cfg.Root, spec.Name)
	n := &Node{Spec: spec, cfg: cfg, Dir: dir,
		SysfsRoot: filepath.Join(dir, "sysfs"), AgentDir: filepath.Join(dir, "agent"), JobsDir: filepath.Join(dir, "jobs")}
	dirs := []string{cfg.Root, dir, n.JobsDir}
	if cfg.JobsRoot != "" {
		n.JobsDir = filepath.Join(cfg.JobsRoot, spec.Name)
		dirs = []string{cfg.Root, dir, cfg.JobsRoot, n.JobsDir}
	}
	// Root and the node directory are traversable, not listable: job
	// users must reach their job directories under JobsDir, and nothing
	// else (the agent's key is in AgentDir, 0700).
	for _, d := range dirs {
		if err := mkdirMode(d, 0o711); err != nil {
			return nil, fmt.Errorf("simnode %s: %w", spec.Name, err)
		}
	}
	n.sysfs = &sysfs{root: n.SysfsRoot, ports: spec.Ports}
	if err := n.sysfs.create(spec.Name, PSID, ShippedFirmware, lid); err != nil {
		return nil, fmt.Errorf("simnode %s: sysfs: %w", spec.Name, err)
	}
	if !agent.Enrolled(n.AgentDir) {
		// A machine new to the cluster: nothing of an earlier cluster's
		// jobs (whose ids the new one reuses) may be on it.
		if err := emptyDir(n.JobsDir); err != nil {
			return nil, fmt.Errorf("simnode %s: %w", spec.Name, err)
		}
	}
	if err := n.newRunner(); err != nil {
		return nil, err
	}
	// The disk is memory: a restarted simulation starts with a blank one.
	n.disk = newMemDisk(filepath.Join(dir, "disk"), cfg.DiskSize)
	var err error
	if n.flasher, err = newFlasher(n.sysfs, filepath.Join(dir, "hca-firmware.json")); err != nil {
		return nil, fmt.Errorf("simnode %s: %w", spec.Name, err)
	}
	n.Agent = n.newAgent(n.cfg.bootMode())
	return n, nil
}

// newAgent wires a fresh agent to the node's hardware, as the node's
// operating system would start ibex-agent at boot; mode is what booted
// (see agent.BootMode; "" reports nothing).
func (n *Node) newAgent(mode agent.BootMode) *agent.Agent {
	cfg := n.cfg
	// No BMC on the agent's side: a node's BMC is the control plane's
	// (`ibex nodes bmc set`), which cross-checks what the agent reports.
	disk := func(string) (*memDisk, error) { return n.disk, nil }
	a := &agent.Agent{
		Config: agent.Config{
			Node: n.Name, Servers: cfg.Servers, DataDir: n.AgentDir,
			SysfsRoot: n.SysfsRoot, Disk: n.disk.name, DiskKind: string(erase.KindFile), Device: HCAName,
			GossipBind: net.JoinHostPort(cfg.GossipHost, "0"), GossipSeeds: cfg.GossipSeeds,
			GossipProbeInterval: cfg.GossipProbeInterval, GossipProbeTimeout: cfg.GossipProbeTimeout, GossipInterval: cfg.GossipInterval,
		},
		Imager:   &imaging.Writer{},
		OpenDisk: func(p string) (imaging.Disk, error) { return disk(p) },
		ReadDisk: func(p string) (io.ReaderAt, error) { return disk(p) },
		// The real eraser on the simulated disk: every byte overwritten,
		// samples read back. Small blocks: 64 nodes erase at once.
		Eraser:        &erase.Overwrite{BlockSize: 256 << 10, Open: func(p string) (erase.Device, error) { return disk(p) }},
		Flasher:       n.flasher,
		FirmwareStore: firmwareStore{dir: cfg.FirmwareDir},
		Jobs:          n.Jobs,
		Logger:        cfg.Logger,
		// A simulated node's "power cut" is its host process ending, which
		// the page cache survives: its journals need no fsync (see
		// agent.Agent.JournalNoSync). Every other step is the real agent's.
		JournalNoSync: true,
		// The last ~10 cleanings' tasks: every resend the control plane
		// makes is of a task without a recorded result, i.e. a recent one.
		JournalEntries: simJournalEntries,
		// The runner's exit hook reports every end at once; the poll is
		// only the fallback (agent.Agent.JobPoll).
		JobPoll: simJobPoll,
	}
	if mode != "" {
		a.Config.BootMode, a.Config.BootRecord = mode, n.BootRecord()
	}
	return a
}

// simJournalEntries bounds a simulated node's task journal (see
// agent.Agent.JournalEntries): each compaction writes it whole, and
// hundreds of simulated nodes write on one host.
const simJournalEntries = 32

// simJobPoll is a simulated node's job watcher poll (agent.Agent.JobPoll):
// hundreds of agents share one process, whose every timer wake-up waits
// for the same two CPUs as the jobs' reports.
const simJobPoll = time.Second

// Start runs the node's agent until ctx ends, like ibex-agent on a real
// node: enroll with a join token from e if the agent has no
// certificate (or if the control plane no longer knows it: then the node
// is wiped and enrolls as new), connect over mutual TLS, join the gossip
// pool, and carry out the tasks the control plane sends.
func (n *Node) Start(ctx context.Context, e Enroller) error { return n.startAgent(ctx, n.Agent, e) }

// startAgent runs a, which is n's agent for this boot.
func (n *Node) startAgent(ctx context.Context, a *agent.Agent, e Enroller) error {
	if err := n.prepareEnrollment(ctx, a, e); err != nil {
		return fmt.Errorf("simnode %s: %w", n.Name, err)
	}
	return a.Start(ctx)
}

func (n *Node) prepareEnrollment(ctx context.Context, a *agent.Agent, e Enroller) error {
	if e == nil {
		if agent.Enrolled(n.AgentDir) {
			return nil
		}
		return errors.New("not enrolled and no enroller to get a join token from")
	}
	if agent.Enrolled(n.AgentDir) {
		known, err := e.Known(ctx, n.Name)
		if err != nil {
			return err
		}
		if known {
			return nil
		}
		// The cluster was reset: its CA would refuse this certificate,
		// and its task ids may repeat those in the agent's journal.
		n.cfg.Logger.Info("the control plane does not know this node's agent; enrolling it as a new machine", "node", n.Name)
		if err := os.RemoveAll(n.AgentDir); err != nil {
			return err
		}
		if err := emptyDir(n.JobsDir); err != nil {
			return err
		}
		if err := n.newRunner(); err != nil {
			return err
		}
		a.Jobs = n.Jobs
	}
	tok, pin, err := e.JoinToken(ctx, n.Name)
	if err != nil {
		return err
	}
	a.Config.JoinToken, a.Config.CAPin = tok, pin
	return nil
}

// newRunner (re)creates the node's job runner and hands it to its agent.
func (n *Node) newRunner() error {
	opts := localexec.Options{User: n.cfg.JobUser, SharedHost: true}
	if n.cfg.CgroupParent != "" {
		opts.CgroupDir = filepath.Join(n.cfg.CgroupParent, n.Name)
	}
	runner, err := localexec.NewWithOptions(n.JobsDir, opts)
	if err != nil {
		return fmt.Errorf("simnode %s: %w", n.Name, err)
	}
	n.Jobs = runner
	if n.Agent != nil {
		n.Agent.Jobs = runner
	}
	return nil
}

// emptyDir removes everything in dir, keeping dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Enrolled reports whether the node's agent holds a certificate.
func (n *Node) Enrolled() bool { return agent.Enrolled(n.AgentDir) }

// WritePKeys sets the P_Key table of the node's port guid in its sysfs:
// raw slots in index order (see sysfs.WritePKeys).
func (n *Node) WritePKeys(guid sm.GUID, raw []uint16) error { return n.sysfs.WritePKeys(guid, raw) }

// RunningFirmware is the firmware the node's HCA runs now.
func (n *Node) RunningFirmware() string { return n.flasher.running() }

// HCASetting is an mstconfig setting of the node's HCA: the value in
// effect and the one the next firmware reset activates.
func (n *Node) HCASetting(key string) (current, next string) { return n.flasher.setting(key) }

// DiskUsed is how many bytes of the node's disk hold data (64 KiB
// granularity): zero after an erase.
func (n *Node) DiskUsed() int64 { return n.disk.used() }

// mkdirMode creates dir if needed and sets its mode, also on an existing
// directory (MkdirAll leaves those alone, and the umask narrows new ones).
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// IsolationName is the name of the directory (under /var/tmp) and of the
// cgroup (under the cgroup2 mount) that hold the jobs of the simulated
// nodes kept in root, when their jobs run as a job user: one per
// simulated cluster, the same across restarts.
func IsolationName(root string) string {
	sum := sha256.Sum256([]byte(root))
	return "ibex-sim-" + hex.EncodeToString(sum[:6])
}

// RemoveIsolation removes what the jobs of the simulated nodes kept in
// root left outside root (IsolationName): their directory under /var/tmp
// and their cgroups, deepest first (jobs, then nodes, then the cluster's);
// a cgroup that still holds a process stays. For tests and benchmarks
// that throw a simulated cluster away; a --dev run keeps both across its
// restarts.
func RemoveIsolation(root string) {
	name := IsolationName(root)
	os.RemoveAll(filepath.Join("/var/tmp", name))
	mnt, err := localexec.Cgroup2Mount()
	if err != nil {
		return
	}
	cg := filepath.Join(mnt, name)
	for _, pattern := range []string{"*/*/*", "*/*", "*"} {
		dirs, _ := filepath.Glob(filepath.Join(cg, pattern))
		for _, d := range dirs {
			os.Remove(d)
		}
	}
	os.Remove(cg)
}
