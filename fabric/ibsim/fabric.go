package ibsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config describes a fabric to start.
type Config struct {
	Topology Topology
	// Dir holds every file of the fabric. Empty: a new temporary
	// directory, removed by Stop.
	Dir string
	// NoSM starts ibsim only (e.g. to run "opensm --once" yourself).
	NoSM bool
	// Partitions is the initial partitions.conf. Empty: every port a
	// full member of the default partition (OpenSM's own fallback).
	Partitions []byte
	// SweepInterval is opensm's light-sweep period in seconds; 0
	// keeps 10 s.
	SweepInterval int
	// Timeout bounds each start step (socket, SUBNET UP); 0 is 120 s.
	Timeout time.Duration
	// FileRouting runs opensm with routing_engine "file" reading
	// Fabric.LFTsFile (link isolation, fabric/route): while the file is
	// absent OpenSM logs ERR 6302 at each sweep and routes with minhop.
	FileRouting bool
	// LMC is opensm's lmc: every CA port gets 2^LMC LIDs (0: one).
	LMC int
}

// Fabric is a running ibsim (and usually opensm) instance.
type Fabric struct {
	Topology Topology
	// Dir is the working directory; tools run in Dir/scratch because
	// umad2sim writes a fake sysfs tree "sys-<pid>" into the cwd.
	Dir string
	// SockName is the unique IBSIM_SOCKNAME of this fabric.
	SockName string
	// PartitionsFile, OpenSMConf and OpenSMLog are the SM's files.
	PartitionsFile, OpenSMConf, OpenSMLog string
	// LFTsFile is opensm's lfts_file when Config.FileRouting is set.
	LFTsFile string
	// ToolTimeout bounds each Run; 0 means DefaultToolTimeout.
	ToolTimeout time.Duration

	cfg      Config
	ownDir   bool
	umad     string
	ibsimBin string
	osmBin   string
	console  *os.File // FIFO held read-write: ibsim never sees EOF
	consMu   sync.Mutex
	sim      *proc
	smMu     sync.Mutex
	sm       *proc
	restarts atomic.Int64  // by Supervise
	slots    chan struct{} // tool processes share ibsim's 10 client slots
	clientMu sync.Mutex
	client   *simClient
	hosts    []Host
	byGUID   map[uint64]Host
}

// proc is a child process whose exit we observe without blocking.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// dieWithParent makes the kernel kill a daemon (ibsim, opensm) when the
// process that started it dies, even by SIGKILL, so an aborted test run
// leaves no simulator behind. SIGKILL, not SIGTERM: opensm's orderly exit
// talks to ibsim, which is dying at the same moment, and once under load
// an opensm given SIGTERM was left running after TestNoOrphanAfterKill9
// killed its parent; the ibsim client slot a clean exit would free dies
// with ibsim anyway.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then kills.
func (p *proc) stop(sig os.Signal, grace time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %v of %v; killed", filepath.Base(p.cmd.Path), grace, sig)
	}
}

// maxToolProcs leaves room in ibsim's 10 client slots for opensm, our
// own SMP client and a restarting opensm.
const maxToolProcs = 6

var sockSeq atomic.Uint64

// Start generates the net file, starts ibsim and (unless NoSM) opensm,
// and returns once the subnet is up. On error everything started is
// stopped again.
func Start(ctx context.Context, cfg Config) (*Fabric, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 120 * time.Second
	}
	f := &Fabric{Topology: cfg.Topology, cfg: cfg, Dir: cfg.Dir, slots: make(chan struct{}, maxToolProcs)}
	f.umad, _ = umad2sim()
	f.ibsimBin, _ = lookPath("ibsim")
	f.osmBin, _ = lookPath("opensm")
	f.hosts = cfg.Topology.Hosts()
	f.byGUID = map[uint64]Host{}
	for _, h := range append(f.hosts, cfg.Topology.SMHost()) {
		f.byGUID[h.PortGUID] = h
	}
	if f.Dir == "" {
		d, err := os.MkdirTemp("", "ibex-ibsim-")
		if err != nil {
			return nil, err
		}
		f.Dir, f.ownDir = d, true
	}
	f.SockName = fmt.Sprintf("ibex%d_%d_%d", os.Getpid(), sockSeq.Add(1), time.Now().UnixNano()%100000)
	f.PartitionsFile = filepath.Join(f.Dir, "partitions.conf")
	f.OpenSMConf = filepath.Join(f.Dir, "opensm.conf")
	f.OpenSMLog = filepath.Join(f.Dir, "opensm.log")
	f.LFTsFile = filepath.Join(f.Dir, "lfts")
	if err := f.start(ctx); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

func (f *Fabric) start(ctx context.Context) error {
	for _, d := range []string{"cache", "scratch"} {
		if err := os.MkdirAll(filepath.Join(f.Dir, d), 0o755); err != nil {
			return err
		}
	}
	net := filepath.Join(f.Dir, "net")
	if err := os.WriteFile(net, f.Topology.NetFile(), 0o644); err != nil {
		return err
	}
	if err := f.startSim(ctx, net); err != nil {
		return err
	}
	if f.cfg.NoSM {
		return nil
	}
	part := f.cfg.Partitions
	if len(part) == 0 {
		part = []byte("Default=0x7fff : ALL=full, SELF=full ;\n")
	}
	if err := os.WriteFile(f.PartitionsFile, part, 0o644); err != nil {
		return err
	}
	if err := f.writeOpenSMConf(ctx); err != nil {
		return err
	}
	return f.StartSM(ctx)
}

// startSim runs "ibsim -s" with its console on a FIFO that we hold
// open read-write: the console stays usable (Console) and ibsim never
// reads EOF, which would make it spin at 100% CPU.
func (f *Fabric) startSim(ctx context.Context, net string) error {
	fifo := filepath.Join(f.Dir, "ibsim.console")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("ibsim: mkfifo: %w", err)
	}
	c, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	f.console = c
	out, err := os.Create(filepath.Join(f.Dir, "ibsim.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	args := append([]string{"-s"}, f.Topology.simLimits()...)
	cmd := exec.Command(f.ibsimBin, append(args, net)...)
	cmd.Dir = f.Dir
	cmd.Env = append(os.Environ(), "IBSIM_SOCKNAME="+f.SockName)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c, out, out
	cmd.SysProcAttr = dieWithParent()
	if f.sim, err = startProc(cmd); err != nil {
		return fmt.Errorf("ibsim: %w", err)
	}
	// ibsim prints "Network simulator ready" before it binds its
	// sockets: only the socket in /proc/net/unix means clients can
	// attach.
	return f.poll(ctx, "ibsim socket", func() (bool, error) {
		if f.sim.exited() {
			return false, fmt.Errorf("ibsim exited: %v: %s", f.sim.err, tail(filepath.Join(f.Dir, "ibsim.out")))
		}
		return sockListening(f.SockName + ":ctl")
	})
}

// sockListening looks for an abstract socket in /proc/net/unix. ibsim
// binds its names with one trailing NUL, shown as '@'.
func sockListening(name string) (bool, error) {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		fs := bytes.Fields(line)
		if len(fs) == 0 {
			continue
		}
		p := string(fs[len(fs)-1])
		if p == "@"+name || p == "@"+name+"@" {
			return true, nil
		}
	}
	return false, nil
}

// poll runs cond every 20 ms until it is true, fails, or the step's
// timeout or ctx expires.
func (f *Fabric) poll(ctx context.Context, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("ibsim: waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ibsim: waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// tail returns the last lines of a file for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// Stop terminates opensm (SIGTERM: it exits cleanly and frees its
// ibsim slot) and ibsim, then removes the directory if Start made it.
func (f *Fabric) Stop() error {
	var errs []error
	f.clientMu.Lock()
	if f.client != nil {
		f.client.Close()
		f.client = nil
	}
	f.clientMu.Unlock()
	errs = append(errs, f.StopSM())
	if f.sim != nil {
		errs = append(errs, f.sim.stop(syscall.SIGTERM, 5*time.Second))
	}
	if f.console != nil {
		f.console.Close()
	}
	if f.ownDir {
		errs = append(errs, os.RemoveAll(f.Dir))
	}
	return errors.Join(errs...)
}

// Hosts returns the tenant hosts.
func (f *Fabric) Hosts() []Host { return f.hosts }

// HostGUIDs maps host name to port GUID.
func (f *Fabric) HostGUIDs() map[string]uint64 {
	m := make(map[string]uint64, len(f.hosts))
	for _, h := range f.hosts {
		m[h.Name] = h.PortGUID
	}
	return m
}
