// Package agent is ibex's node agent: the process on each bare-metal node
// that enrolls with ibexd, keeps a stream to it, and carries out the
// hygiene tasks the control plane sends (reimage, erase, pin firmware),
// and runs the jobs of the tenant renting the node (jobs.go).
//
// The agent is a struct of interfaces where the hardware sits: the imaging
// target is opened through OpenDisk, erasing goes through an
// erase.Eraser, flashing through a firmware.Flasher, and the BMC is a
// bmc.BMC. Tests swap in the fakes of those packages; cmd/ibex-agent wires
// the real ones.
//
// Trust: the agent enrolls once with a one-time join token, trusting the
// server through a CA pin (see Pin), and from then on talks mTLS with the
// certificate it got. Tasks are idempotent by id through an on-disk
// journal, because the server resends any task whose result it has not
// recorded (after a reconnect, a crash, a leader change).
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// Agent is one node's agent. Set Config and the hardware fields, then
// call Start.
type Agent struct {
	Config Config

	// Imager streams images; nil means the zero imaging.Writer. The
	// agent copies it per task to set Progress and ProgressInterval.
	Imager *imaging.Writer
	// OpenDisk opens Config.Disk as the imaging target; nil means
	// imaging.OpenDisk. The agent closes the result if it is an io.Closer.
	OpenDisk func(path string) (imaging.Disk, error)
	// ReadDisk opens Config.Disk only to read it (the hand-out check);
	// nil means imaging.OpenDiskReadOnly. OpenDisk would not do: it
	// truncates a file target. The agent closes the result if it is an
	// io.Closer.
	ReadDisk func(path string) (io.ReaderAt, error)
	// Eraser erases Config.Disk (required).
	Eraser erase.Eraser
	// Flasher queries and burns HCA firmware (required).
	Flasher firmware.Flasher
	// FirmwareStore serves the image files firmware pins name; nil means
	// firmware.DirStore{Dir: Config.FirmwareDir}. One of them is required.
	FirmwareStore firmware.FileStore
	// BMC, optional, adds BMC firmware and the power state to the Hello.
	BMC bmc.BMC
	// Jobs runs the jobs' processes on this node (jobs.go) and the ones
	// exec'd into them (exec.go); nil means the agent refuses both. Its Root must lie outside Config.DataDir: jobs
	// must never reach the node's key, certificate or journals.
	Jobs *localexec.Runner
	// PKeys reads this node's HCA P_Key tables (nil: SysfsPKeys under
	// Config.SysfsRoot); a job with a partition key starts only once its
	// key is there.
	PKeys PKeyTable
	// PKeyWait bounds the wait for a job's key (DefaultPKeyWait).
	PKeyWait time.Duration
	// Logger, nil for slog.Default().
	Logger *slog.Logger
	// JournalNoSync writes the task and job journals without fsync (each
	// write still reaches the file before the agent acts on it): a record
	// survives the agent's crash, not the machine's. Only for simulated nodes
	// (nodeagent/simnode), whose "machine" is the one host every node of a
	// simulated cluster shares: there a node's power loss is the ibexd
	// process ending, which the page cache survives, and 64-512 agents'
	// fsyncs on one disk were ~10-20% of ibexd's CPU and held up the raft
	// log's own syncs (bench/agentpath). ibex-agent on a real node never
	// sets it: there "done" on disk must survive a power cut.
	JournalNoSync bool
	// JournalEntries bounds the task journal (0: 256). An erase's entry
	// holds its challenge answer (~8 KiB), and the journal's log is
	// compacted by writing every entry: simulated nodes keep fewer
	// (simnode), 512 of them sharing one host's disk. Only recent tasks
	// are ever resent, so a few cleanings' worth still answers every
	// resend.
	JournalEntries int
	// JobPoll is how often the job watcher reads the runner's status of
	// every running job (0: jobPoll, 100 ms). The runner's exit hook
	// wakes the watcher at each end of a job it started (exitwake.go);
	// the poll is for the rest: jobs adopted after a restart, reports
	// that found the stream full. Simulated nodes poll less (simnode):
	// 512 agents in one process at 100 ms were ~5,000 timer wake-ups a
	// second, about a third of all wake-ups in a scheduler trace of ibexd
	// (bench/agentpath), each a goroutine waiting its turn for a CPU.
	JobPoll time.Duration

	cfg     Config
	log     *slog.Logger
	journal *journal
	runner  *runner
	execs   execTable
	fence   *fence
	jobs    *jobManager

	boot bootState // boot.go: this boot's report, computed once

	mu     sync.Mutex
	sess   *session
	gossip *Gossip // nil without gossip
}

// Start checks that everything is set, enrolls if DataDir holds no
// certificate, joins the gossip pool and then serves the control plane
// until ctx ends, reconnecting as needed. It returns nil after ctx ends
// and the running task (if any) has stopped, or an error when the agent
// cannot run: an invalid configuration, a missing hardware interface, or
// an enrollment that needs an operator (*EnrollError).
func (a *Agent) Start(ctx context.Context) error {
	if err := a.init(); err != nil {
		return err
	}
	// After Start returns, a late write (a stop finishing) fails rather
	// than replace the logs a restarted agent on the same data dir owns.
	defer a.journal.close()
	defer a.jobs.journal.close()
	id, err := a.identity(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if d := id.expiresIn(time.Now()); d < 30*24*time.Hour {
		a.log.Warn("node certificate expires soon; re-enroll with a new join token before then", "expires", id.cert.NotAfter.Format(time.RFC3339))
	}
	if g, err := a.startGossip(id); err != nil {
		return err
	} else if g != nil {
		a.mu.Lock()
		a.gossip = g
		a.mu.Unlock()
		defer func() {
			if err := g.Stop(2 * time.Second); err != nil {
				a.log.Warn("gossip: leave", "err", err)
			}
		}()
	}

	a.jobs.ctx = ctx
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.runner.run(ctx)
	}()
	go func() {
		defer wg.Done()
		a.jobs.watch(ctx)
	}()
	a.connectLoop(ctx, id)
	wg.Wait()
	return nil
}

// init applies defaults and checks the configuration and hardware fields,
// like Tinkerbell's agent does before it starts: a missing interface must
// fail at start, not on the first task hours later.
func (a *Agent) init() error {
	a.cfg = a.Config.WithDefaults()
	a.log = a.Logger
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("node", a.cfg.Node)
	var errs []error
	if err := a.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if a.Eraser == nil {
		errs = append(errs, errors.New("no Eraser"))
	}
	if a.Flasher == nil {
		errs = append(errs, errors.New("no firmware Flasher"))
	}
	if a.FirmwareStore == nil {
		if a.cfg.FirmwareDir == "" {
			errs = append(errs, errors.New("no FirmwareStore and no FirmwareDir"))
		} else {
			a.FirmwareStore = firmware.DirStore{Dir: a.cfg.FirmwareDir}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("agent: cannot start: %w", errors.Join(errs...))
	}
	if a.Imager == nil {
		a.Imager = &imaging.Writer{}
	}
	if a.ReadDisk == nil {
		a.ReadDisk = func(p string) (io.ReaderAt, error) { return imaging.OpenDiskReadOnly(p) }
	}
	if a.OpenDisk == nil {
		a.OpenDisk = func(p string) (imaging.Disk, error) { return imaging.OpenDisk(p) }
	}
	if err := ensureDataDir(a.cfg.DataDir); err != nil {
		return err
	}
	j, warn := openJournal(filepath.Join(a.cfg.DataDir, journalFile), a.JournalEntries)
	if warn != nil {
		a.log.Warn(warn.Error())
	}
	j.nosync = a.JournalNoSync
	a.journal = j
	a.runner = newRunner(a)
	var err error
	if a.fence, err = openFence(filepath.Join(a.cfg.DataDir, termFile)); err != nil {
		return err
	}
	if err := a.checkJobRoot(); err != nil {
		return err
	}
	if a.jobs, err = newJobManager(a, a.cfg.DataDir); err != nil {
		return err
	}
	return nil
}

// identity loads the stored enrollment or enrolls.
func (a *Agent) identity(ctx context.Context) (*identity, error) {
	id, ok, err := loadIdentity(a.cfg.DataDir, a.cfg.Node)
	if err != nil {
		return nil, err
	}
	if ok {
		if a.cfg.JoinToken != "" {
			a.log.Info("already enrolled; ignoring the join token", "ca", PinCA(id.ca))
		}
		return id, nil
	}
	return a.enroll(ctx)
}

// startGossip starts membership with the key and seeds from enrollment;
// it returns nil without error when gossip is off or enrollment gave no
// seeds (a control plane without gossip).
func (a *Agent) startGossip(id *identity) (*Gossip, error) {
	if a.cfg.NoGossip {
		return nil, nil
	}
	seeds := mergeSeeds(id.gossip.Seeds, a.cfg.GossipSeeds)
	if len(seeds) == 0 || id.gossip.Key == "" {
		a.log.Info("gossip off: enrollment gave no gossip seeds or key")
		return nil, nil
	}
	key, err := decodeGossipKey(id.gossip.Key)
	if err != nil {
		return nil, fmt.Errorf("agent: %s: %w", gossipFile, err)
	}
	return StartGossip(GossipConfig{
		Name: a.cfg.Node, Bind: a.cfg.GossipBind, Advertise: a.cfg.GossipAdvertise,
		Key: key, Seeds: seeds,
		ProbeInterval: a.cfg.GossipProbeInterval, ProbeTimeout: a.cfg.GossipProbeTimeout, GossipInterval: a.cfg.GossipInterval,
		Logger: a.log,
	})
}
