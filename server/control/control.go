// Package control holds the leader's reconcile loops: scheduling and the
// job lifecycle, node hygiene, InfiniBand partitions, agent liveness and
// fabric health. Each loop reads the replicated state through the
// replica.Store seam, compares it with the world (executor, agents, subnet
// manager, gossip, port counters) and commits the difference. They keep no
// state that a new leader would need: what must survive a failover is in
// the FSM.
package control

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/fabric/health"
	"github.com/ibex-hpc/ibex/fabric/pkeypool"
	"github.com/ibex-hpc/ibex/fabric/sm"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/scheduler"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/metrics"
	"github.com/ibex-hpc/ibex/server/replica"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

// Dispatcher sends a task to a node's agent over its stream. It reports
// whether the agent is connected; sending a task id twice is harmless.
type Dispatcher interface {
	Dispatch(node string, t *pb.AgentTask) bool
}

// Membership is the live gossip pool: the names of the members alive now,
// or ok=false while this server has not joined it.
type Membership interface {
	Alive() (alive map[string]bool, ok bool)
}

// FirmwarePin is one line of the firmware policy handed to agents.
type FirmwarePin struct {
	PSID    string `json:"psid"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	File    string `json:"file"`
}

// Config is what the loops need. Nil interfaces switch a loop off: no SM
// means no partitions, no Membership no liveness, no Health no fabric
// health.
type Config struct {
	Store   replica.Store
	Fabric  *fabricview.View
	SM      sm.Driver
	Exec    Executor
	Agents  Dispatcher
	Gossip  Membership
	Health  *health.Collector
	Keys    pkeypool.Pool
	Metrics *metrics.Instruments
	Log     *slog.Logger
	// DefaultImage ("name:version") is written to every agent node during
	// cleaning; FirmwarePins is the HCA firmware policy.
	DefaultImage string
	FirmwarePins []FirmwarePin
	// BMCs opens nodes' BMCs and Secrets their sealed logins; Provision
	// is how the provisioning loop drives them (provision.go). Nil BMCs
	// switches provisioning (and fencing) off.
	BMCs      BMCs
	Secrets   *secretkey.Keyring
	Provision ProvisionPolicy
	// Tick is the job controller's period besides state changes; HealthEvery
	// how often port state and counters are sampled.
	Tick        time.Duration
	HealthEvery time.Duration
	// TaskTimeout is how long a cleaning task may go without a result
	// before it is given up as interrupted (0: DefaultTaskTimeout).
	TaskTimeout time.Duration
	// CleanChainWait bounds how long a node's cleaning chain waits for a
	// step's result before the passes take over (0: chainWait, 2 s).
	// Tests that answer agent tasks by hand set it short.
	CleanChainWait time.Duration
	// Policy is how the job controller's passes order, reserve and place
	// jobs (zero: scheduler.IbexPolicy).
	Policy scheduler.Policy
}

// Loops are the leader's controllers. Health also answers
// readers on this server (the API, the dashboard, /metrics).
type Loops struct {
	cfg    Config
	jobs   *jobController
	parts  *Partitions  // nil without a subnet manager
	prov   *provisioner // nil without BMCs
	Health *FabricHealth
	// Routes enforces link isolation in the switches' forwarding tables
	// (routes.go); nil when the subnet manager cannot load tables.
	Routes *Routes
}

// New builds the loops; they start with Run.
func New(cfg Config) *Loops {
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewInstruments()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 200 * time.Millisecond
	}
	if cfg.Policy.Name == "" {
		cfg.Policy = scheduler.IbexPolicy()
	}
	l := &Loops{cfg: cfg}
	if cfg.SM != nil {
		l.parts = newPartitions(cfg)
		if r := sm.RouterOf(cfg.SM); r != nil {
			l.Routes = newRoutes(cfg, r)
		}
	}
	if cfg.Health != nil {
		l.Health = newFabricHealth(cfg)
	}
	l.jobs = &jobController{cfg: cfg, parts: l.parts, log: cfg.Log.With("component", "controller"), unreachable: map[uint64]time.Time{}, steps: newSteps()}
	l.jobs.onJobEnded(cfg.Exec) // fastpath.go
	if l.parts != nil {
		l.parts.onReady = l.jobs.launchNow
	}
	if cfg.BMCs != nil {
		l.prov = newProvisioner(cfg, l.jobs)
	}
	return l
}

// Run runs every loop until ctx ends (leadership lost or shutdown).
func (l *Loops) Run(ctx context.Context) {
	var wg sync.WaitGroup
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	start(l.jobs.run)
	if l.parts != nil {
		start(l.parts.run)
	}
	if l.Routes != nil {
		start(l.Routes.run)
	}
	if l.cfg.Gossip != nil {
		start(l.liveness)
	}
	if l.Health != nil {
		start(l.Health.run)
	}
	if l.prov != nil {
		start(l.prov.run)
	}
	wg.Wait()
}
