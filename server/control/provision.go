package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/bmc"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Provisioning through nodes' BMCs: the leader's reconcile loop behind
// model.Provision's state machine. For every node with a registered BMC it
// reads the replicated record, does the next thing through the BMC (or
// waits for the agent's evidence), and commits the outcome with its
// evidence as a provisioning event, which lands in the node's ledger:
//
//   - enroll → inspecting: read the BMC (power, firmware inventory) and
//     cross-check it with the agent's own report (inspect.go's verdict);
//   - deploying a job's allocation: one-time boot to the ramdisk (PXE, UEFI
//     HTTP or a virtual-media ISO), power cycle, wait for the ramdisk's
//     agent, its image task (written and digest-verified), one-time boot to
//     disk, power cycle, wait for the agent to check in; a node that
//     already carries the verified image skips all of it;
//   - fencing a node lost with a job: power off, verify Off, then power on
//     again for recovery (STONITH's "reboot").
//
// Every step waits on evidence with a timeout (ProvisionPolicy) and has a
// retry budget (model.ProvRetryBudget); attempts and the time a step began
// are replicated, so a new leader continues where the last one stopped,
// with the same deadlines. Operations on BMCs run in the background, one at
// a time per node and at most Workers at once, so a slow BMC holds up only
// its own node.

// BMCs hands the loop a node's BMC. The server's is RedfishBMCs; tests
// give bmc.Fake, so that nothing is dialled.
type BMCs interface {
	// Open returns the BMC of node for cfg (its login opened). It must
	// not block on the network: connect lazily.
	Open(node string, cfg bmc.Config) (bmc.BMC, error)
}

// ProvisionPolicy is how the loop drives BMCs. Zero fields take the
// defaults in withDefaults.
type ProvisionPolicy struct {
	// Boot is the ramdisk's one-time boot target: bmc.BootPxe (default),
	// bmc.BootUefiHTTP, or bmc.BootCd to boot RamdiskISO from the BMC's
	// virtual media. All boot in UEFI mode (the bmc client sets it).
	Boot       bmc.BootTarget
	RamdiskISO string
	// InspectTimeout bounds an inspection (the BMC read and the agent's
	// report), PowerTimeout a power cycle until the BMC reports On,
	// BootTimeout a boot until the agent checks in, ImageTimeout the image
	// task, FenceTimeout a power off until the BMC reports Off.
	InspectTimeout time.Duration
	PowerTimeout   time.Duration
	BootTimeout    time.Duration
	ImageTimeout   time.Duration
	FenceTimeout   time.Duration
	// RetryWait is the pause before another attempt at a step that failed.
	RetryWait time.Duration
	// PollEvery is how often a power change is read back.
	PollEvery time.Duration
	// Workers bounds the BMC operations in flight.
	Workers int
}

func (p ProvisionPolicy) withDefaults() ProvisionPolicy {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if p.Boot == "" {
		p.Boot = bmc.BootPxe
	}
	def(&p.InspectTimeout, 5*time.Minute)
	def(&p.PowerTimeout, 5*time.Minute)
	def(&p.BootTimeout, 15*time.Minute)
	def(&p.ImageTimeout, 2*time.Hour)
	def(&p.FenceTimeout, 2*time.Minute)
	def(&p.RetryWait, 30*time.Second)
	def(&p.PollEvery, time.Second)
	if p.Workers <= 0 {
		p.Workers = 64
	}
	return p
}

// provisioner is the loop. busy is the nodes with an operation in flight
// (this leader's memory only: a new leader may repeat an operation whose
// outcome was not committed, and every operation is safe to repeat).
type provisioner struct {
	cfg  Config
	pol  ProvisionPolicy
	jobs *jobController // builds agent tasks
	log  *slog.Logger
	sem  chan struct{}

	mu   sync.Mutex
	busy map[string]bool
	wg   sync.WaitGroup
}

func newProvisioner(cfg Config, jobs *jobController) *provisioner {
	pol := cfg.Provision.withDefaults()
	return &provisioner{cfg: cfg, pol: pol, jobs: jobs, log: cfg.Log.With("component", "provision"),
		sem: make(chan struct{}, pol.Workers), busy: map[string]bool{}}
}

// run reconciles at every state change and tick until ctx ends, then
// waits for the operations in flight.
func (p *provisioner) run(ctx context.Context) {
	defer p.wg.Wait()
	const minPass = 50 * time.Millisecond
	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	for {
		changed := p.cfg.Store.Changed()
		start := time.Now()
		p.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
		if wait := minPass - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// pass looks at every node with a BMC once. It commits what needs no BMC
// call itself and starts the BMC operations in the background.
func (p *provisioner) pass(ctx context.Context) {
	if !p.provisioning() { // provision_idle.go
		return
	}
	w := p.cfg.Store.Work(0)
	jobs := make(map[uint64]*model.Job, len(w.Active))
	for _, j := range w.Active {
		jobs[j.ID] = j
	}
	now := p.cfg.Store.Now()
	for _, n := range w.Nodes {
		if n.BMC == nil || n.Prov == nil || p.isBusy(n.Name) {
			continue
		}
		p.step(ctx, n, jobs[n.JobID], now)
	}
}

// wait blocks until the operations in flight are done (tests, benchmarks).
func (p *provisioner) wait() { p.wg.Wait() }

func (p *provisioner) isBusy(node string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy[node]
}

// goOp runs op for node in the background, unless one is in flight.
func (p *provisioner) goOp(ctx context.Context, n *model.Node, op func(context.Context, *model.Node, bmc.BMC)) {
	p.mu.Lock()
	if p.busy[n.Name] {
		p.mu.Unlock()
		return
	}
	p.busy[n.Name] = true
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.busy, n.Name)
			p.mu.Unlock()
		}()
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-p.sem }()
		b, err := p.open(n)
		if err != nil {
			p.failed(ctx, n, err.Error(), "")
			return
		}
		op(ctx, n, b)
	}()
}

// open opens the node's BMC login and hands out its BMC.
func (p *provisioner) open(n *model.Node) (bmc.BMC, error) { return openNodeBMC(p.cfg, n) }

// openNodeBMC opens n's BMC login with cfg's secrets and BMCs.
func openNodeBMC(c Config, n *model.Node) (bmc.BMC, error) {
	if c.Secrets == nil {
		return nil, errors.New("this server has no secrets key file (ibexd --secrets-key-file), so it cannot open BMC logins; give every server the same file")
	}
	user, pass, err := c.Secrets.OpenBMCLogin(n.Name, *n.BMC)
	if err != nil {
		return nil, err
	}
	cfg := bmc.Config{Endpoint: n.BMC.Endpoint, SystemID: n.BMC.SystemID, Username: user, Password: bmc.Secret(pass)}
	if n.BMC.CAPEM != "" {
		cfg.CAPEM = []byte(n.BMC.CAPEM)
	}
	return c.BMCs.Open(n.Name, cfg)
}

// step decides the node's next move.
func (p *provisioner) step(ctx context.Context, n *model.Node, j *model.Job, now time.Time) {
	if s := p.cfg.Secrets; s != nil && s.Stale(n.BMC.Credentials) {
		p.reseal(ctx, n)
	}
	pr := n.Prov
	if pr.Attempts > 0 && pr.Reason != "" && now.Before(pr.Since.Add(p.pol.RetryWait)) {
		return // resting after a failed attempt
	}
	switch pr.State {
	case model.ProvEnroll:
		if n.State != model.NodeAllocated {
			p.commit(ctx, n, &fsm.Provision{Event: model.EvInspect, Evidence: "reading BMC " + n.BMC.Endpoint})
		}
	case model.ProvInspecting:
		p.goOp(ctx, n, p.inspect)
	case model.ProvNone:
		if j != nil && n.State == model.NodeAllocated && j.State == model.JobScheduled && pr.Deployed != j.ID {
			p.beginDeploy(ctx, n, j)
		}
	case model.ProvDeploying:
		p.deployStep(ctx, n, now)
	case model.ProvFencing:
		p.goOp(ctx, n, p.fence)
	}
}

// commit applies a provisioning event for n, stamped now. A conflict means
// the state moved on since the pass read it; the next pass looks again.
func (p *provisioner) commit(ctx context.Context, n *model.Node, c *fsm.Provision) bool {
	c.Node, c.Time = n.Name, p.cfg.Store.Now()
	if c.Job == 0 && n.Prov != nil && n.Prov.State == model.ProvDeploying {
		c.Job = n.Prov.Job // the FSM refuses it for any other deployment
	}
	if _, err := p.cfg.Store.Apply(ctx, c); err != nil {
		if ctx.Err() == nil {
			p.log.Warn("provisioning event", "node", n.Name, "event", c.Event, "err", err)
		}
		return false
	}
	lvl := slog.LevelInfo
	if c.Event == model.EvFail || c.Event == model.EvRetry {
		lvl = slog.LevelWarn
	}
	p.log.Log(ctx, lvl, "provisioning", "node", n.Name, "event", c.Event, "step", c.Step, "reason", c.Reason)
	return true
}

// failed records a failed attempt: a retry (from restart, while
// deploying, or the same step) while the budget lasts, else the failure.
func (p *provisioner) failed(ctx context.Context, n *model.Node, reason string, restart model.DeployStep) {
	if ctx.Err() != nil {
		return // leadership lost: the next leader tries again
	}
	c := &fsm.Provision{Event: model.EvRetry, Reason: reason, Step: restart}
	if n.Prov.Attempts+1 >= model.ProvRetryBudget {
		c.Event, c.Step = model.EvFail, ""
		c.Reason = fmt.Sprintf("%s (attempt %d of %d)", reason, n.Prov.Attempts+1, model.ProvRetryBudget)
	}
	if n.Prov.State == model.ProvDeploying && restart == "" {
		c.Step = ""
	}
	p.commit(ctx, n, c)
}

// reseal seals the node's BMC login again under the primary key after a
// key rotation.
func (p *provisioner) reseal(ctx context.Context, n *model.Node) {
	s, err := p.cfg.Secrets.ResealBMCLogin(n.Name, *n.BMC)
	if err != nil {
		p.log.Warn("re-seal BMC login", "node", n.Name, "err", err)
		return
	}
	cmd := &fsm.ResealBMC{Node: n.Name, From: n.BMC.Credentials.KeyID, Credentials: s, Time: p.cfg.Store.Now()}
	if _, err := p.cfg.Store.Apply(ctx, cmd); err != nil {
		p.log.Warn("re-seal BMC login", "node", n.Name, "err", err)
	}
}

// inspect reads the BMC and cross-checks it with the agent's report.
func (p *provisioner) inspect(ctx context.Context, n *model.Node, b bmc.BMC) {
	ctx, cancel := context.WithTimeout(ctx, p.pol.InspectTimeout)
	defer cancel()
	power, err := b.PowerState(ctx)
	if err != nil {
		p.failed(ctx, n, "reading the BMC's power state: "+err.Error(), "")
		return
	}
	fw, err := b.FirmwareInventory(ctx)
	fwNote := ""
	if errors.Is(err, bmc.ErrUnsupported) {
		fw, fwNote = nil, "the BMC has no firmware inventory"
	} else if err != nil {
		p.failed(ctx, n, "reading the BMC's firmware inventory: "+err.Error(), "")
		return
	}
	v := crossCheck(n, power, fw, p.agentConnected(n.Name))
	if fwNote != "" {
		v.evidence = fwNote + "; " + v.evidence
	}
	switch {
	case v.mismatch != "":
		// Conclusive: the registered BMC does not describe this node.
		p.commit(ctx, n, &fsm.Provision{Event: model.EvFail, Reason: "inspection: " + v.mismatch, Evidence: v.evidence})
	case v.wait != "":
		if p.cfg.Store.Now().Sub(n.Prov.Since) >= p.pol.InspectTimeout {
			p.failed(ctx, n, fmt.Sprintf("inspection: %s within %s", v.wait, p.pol.InspectTimeout), "")
		}
	default:
		p.commit(ctx, n, &fsm.Provision{Event: model.EvInspected, Evidence: v.evidence})
	}
}

// agentConnected reports whether node's agent has a stream to this server.
func (p *provisioner) agentConnected(node string) bool {
	c, ok := p.cfg.Agents.(interface{ Connected(string) bool })
	return ok && c.Connected(node)
}

// imageFor is the image a job's nodes carry: its own, else the cluster's.
func (p *provisioner) imageFor(j *model.Job) string {
	if j.Image != "" {
		return j.Image
	}
	return p.cfg.DefaultImage
}

// beginDeploy starts deploying job j on n: the whole sequence when the
// disk must be written, else only a check that the node is powered on.
func (p *provisioner) beginDeploy(ctx context.Context, n *model.Node, j *model.Job) {
	want := p.imageFor(j)
	if want == "" || n.Agent == nil || n.Image == want {
		// Nothing to write: an image-less policy, a node without an agent
		// (its image is not ibex's to manage), or a clean node that already
		// carries the verified image, which skips the rewrite.
		note := "no image to write"
		switch {
		case n.Agent == nil:
			note = "no agent on the node: its disk is not ibex's to image"
		case want != "":
			note = fmt.Sprintf("rewrite skipped: the node already carries image %s, verified by its last cleaning", want)
		}
		if n.Agent == nil || want == "" {
			want = ""
		}
		if !p.commit(ctx, n, &fsm.Provision{Event: model.EvDeploy, Job: j.ID, Image: want, Step: model.StepCheckIn, Evidence: note}) {
			return
		}
		// Check in at once: nothing was rebooted, so there is no new
		// check-in to wait for, only the BMC's word that the host is on.
		var fresh *model.Node
		p.cfg.Store.Read(func(st *fsm.State) {
			if m := st.Nodes[n.Name]; m != nil {
				fresh = m.Clone()
			}
		})
		if fresh != nil && fresh.Prov != nil && fresh.Prov.State == model.ProvDeploying {
			p.goOp(ctx, fresh, p.checkIn)
		}
		return
	}
	p.commit(ctx, n, &fsm.Provision{Event: model.EvDeploy, Job: j.ID, Image: want, Step: model.StepPowerCycle,
		Evidence: fmt.Sprintf("node holds image %q; writing %s", n.Image, want)})
}

// deployStep moves a deployment on by one step.
func (p *provisioner) deployStep(ctx context.Context, n *model.Node, now time.Time) {
	pr := n.Prov
	age := now.Sub(pr.Since)
	switch pr.Step {
	case model.StepPowerCycle:
		p.goOp(ctx, n, func(ctx context.Context, n *model.Node, b bmc.BMC) {
			sent := p.cfg.Store.Now()
			ev, err := p.powerCycle(ctx, b, p.pol.Boot)
			if err != nil {
				p.failed(ctx, n, "power cycle into the ramdisk: "+err.Error(), model.StepPowerCycle)
				return
			}
			p.commit(ctx, n, &fsm.Provision{Event: model.EvDeployStep, Step: model.StepRamdisk, Evidence: ev, ResetAt: sent})
		})
	case model.StepRamdisk:
		v := ramdiskCheckIn(n)
		switch {
		case v.ok:
			p.commit(ctx, n, &fsm.Provision{Event: model.EvDeployStep, Step: model.StepImage, Evidence: v.evidence})
		case v.mismatch != "":
			p.failed(ctx, n, v.mismatch, model.StepPowerCycle)
		case age >= p.pol.BootTimeout:
			p.failed(ctx, n, fmt.Sprintf("the ramdisk's agent did not check in within %s of the power cycle", p.pol.BootTimeout), model.StepPowerCycle)
		}
	case model.StepImage:
		p.imageStep(ctx, n, age)
	case model.StepBootDisk:
		p.goOp(ctx, n, func(ctx context.Context, n *model.Node, b bmc.BMC) {
			sent := p.cfg.Store.Now()
			ev, err := p.powerCycle(ctx, b, bmc.BootHdd)
			if err != nil {
				p.failed(ctx, n, "power cycle to disk: "+err.Error(), model.StepBootDisk)
				return
			}
			p.commit(ctx, n, &fsm.Provision{Event: model.EvDeployStep, Step: model.StepCheckIn, Evidence: ev, ResetAt: sent})
		})
	case model.StepCheckIn:
		if n.Agent == nil || pr.Image == "" || pr.ResetAt.IsZero() {
			// Nothing was written or rebooted (the rewrite was skipped,
			// or there is no agent to image): only the BMC's word that
			// the host is on.
			p.goOp(ctx, n, p.checkIn)
			return
		}
		img, known := p.catalogImage(pr.Image)
		v := diskCheckIn(n, img, known)
		switch {
		case v.ok:
			p.goOp(ctx, n, p.checkIn)
		case v.mismatch != "":
			p.failed(ctx, n, v.mismatch, model.StepBootDisk)
		case age >= p.pol.BootTimeout:
			p.failed(ctx, n, fmt.Sprintf("the agent did not check in within %s of booting the image", p.pol.BootTimeout), model.StepBootDisk)
		}
	}
}

// imageStep runs the agent's image task, as the ramdisk would: write the
// image and verify its digest. Its id names the attempt, so a new leader
// dispatches the same task and the agent never runs one twice.
func (p *provisioner) imageStep(ctx context.Context, n *model.Node, age time.Duration) {
	pr := n.Prov
	switch {
	case n.Image == pr.Image:
		p.commit(ctx, n, &fsm.Provision{Event: model.EvDeployStep, Step: model.StepBootDisk,
			Evidence: fmt.Sprintf("image %s written and its digest verified by the agent", pr.Image)})
	case n.Task != nil:
		if age >= p.pol.ImageTimeout {
			p.commit(ctx, n, &fsm.Provision{Event: model.EvFail, Reason: fmt.Sprintf("image task %s did not finish within %s", n.Task.ID, p.pol.ImageTimeout)})
			return
		}
		p.dispatch(n)
	default:
		id := fmt.Sprintf("%s/deploy/%d/image/%d", n.Name, pr.Job, pr.Attempts)
		if why, failed := p.taskFailed(n.Name, pr.Since); failed {
			p.failed(ctx, n, "image task failed: "+why, model.StepImage)
			return
		}
		task := model.NodeTask{ID: id, Kind: model.TaskImage, Image: pr.Image, Started: p.cfg.Store.Now()}
		if _, err := p.cfg.Store.Apply(ctx, &fsm.StartTask{Node: n.Name, Task: task}); err != nil {
			p.log.Warn("start the deployment's image task", "node", n.Name, "err", err)
			return
		}
		// n is fsm.Work's shared, read-only copy: dispatch from a copy
		// that carries the task just started.
		var started model.Node
		n.CloneTo(&started)
		started.Task = &task
		p.dispatch(&started)
	}
}

// taskFailed reports a failed image task recorded since the step began.
func (p *provisioner) taskFailed(node string, since time.Time) (string, bool) {
	why, failed := "", false
	p.cfg.Store.Read(func(st *fsm.State) {
		l := st.Ledger[node]
		for i := len(l) - 1; i >= 0 && !l[i].Time.Before(since); i-- {
			if l[i].Step == string(model.TaskImage) && !l[i].OK {
				why, failed = l[i].Evidence, true
				return
			}
		}
	})
	return why, failed
}

func (p *provisioner) dispatch(n *model.Node) {
	if p.cfg.Agents == nil || n.Task == nil {
		return
	}
	if t := p.jobs.agentTask(n, n.Task); t != nil {
		p.cfg.Agents.Dispatch(n.Name, t)
	}
}

// checkIn completes a deployment: the BMC reports the host On (powering
// it on if it is off) and, when the image was written, the agent checked
// in on it after the boot.
func (p *provisioner) checkIn(ctx context.Context, n *model.Node, b bmc.BMC) {
	ctx, cancel := context.WithTimeout(ctx, p.pol.PowerTimeout)
	defer cancel()
	start := time.Now()
	st, err := b.PowerState(ctx)
	if err == nil && st == bmc.StateOff {
		if err = b.PowerOn(ctx); err == nil {
			st, err = p.waitPower(ctx, b, bmc.StateOn)
		}
	}
	if err != nil || st != bmc.StateOn {
		if err == nil {
			err = fmt.Errorf("the BMC reports %s", st)
		}
		p.failed(ctx, n, "check-in: "+err.Error(), model.StepCheckIn)
		return
	}
	pr := n.Prov
	ev := "BMC reports On; " + bmcTook(start)
	switch {
	case pr.Image != "" && !pr.ResetAt.IsZero():
		img, known := p.catalogImage(pr.Image)
		v := diskCheckIn(n, img, known)
		if !v.ok {
			p.failed(ctx, n, "check-in: "+v.mismatch, model.StepBootDisk)
			return
		}
		ev = v.evidence + "; " + ev
	case pr.Image != "":
		ev = fmt.Sprintf("image %s on disk since its last cleaning (digest verified); %s", pr.Image, ev)
	}
	p.commit(ctx, n, &fsm.Provision{Event: model.EvDeployed, Evidence: ev})
}

// powerCycle boots the host once from target: virtual media inserted
// (BootCd) or ejected (to disk), the one-time boot set (in UEFI mode for
// network and media targets: the bmc client does that), then a reset that
// the client adapts to the reset types the BMC allows (ForceRestart,
// PowerCycle, or ForceOff, wait for Off, On), or On when the host is off.
// Its evidence is the BMC reporting On afterwards.
func (p *provisioner) powerCycle(ctx context.Context, b bmc.BMC, target bmc.BootTarget) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.pol.PowerTimeout)
	defer cancel()
	start := time.Now()
	var notes []string
	vm, hasVM := b.(bmc.VirtualMedia)
	switch {
	case target == bmc.BootCd && !hasVM:
		return "", fmt.Errorf("the ramdisk boots from virtual media but this BMC has none: %w", bmc.ErrUnsupported)
	case target == bmc.BootCd:
		if p.pol.RamdiskISO == "" {
			return "", errors.New("the ramdisk boots from virtual media but no ISO is configured")
		}
		if err := vm.InsertMedia(ctx, p.pol.RamdiskISO); err != nil {
			return "", err
		}
		notes = append(notes, "virtual media "+p.pol.RamdiskISO+" inserted")
	case hasVM && p.pol.Boot == bmc.BootCd:
		if err := vm.EjectMedia(ctx); err != nil {
			return "", err
		}
		notes = append(notes, "virtual media ejected")
	}
	if err := b.SetOneTimeBoot(ctx, target); err != nil {
		return "", err
	}
	notes = append(notes, "one-time boot "+string(target))
	before, err := b.PowerState(ctx)
	if err != nil {
		return "", err
	}
	if before == bmc.StateOff {
		err = b.PowerOn(ctx)
		notes = append(notes, "powered on (was Off)")
	} else {
		err = b.Reset(ctx, bmc.ResetForceRestart)
		notes = append(notes, "reset (was "+string(before)+")")
	}
	if err != nil {
		return "", err
	}
	st, err := p.waitPower(ctx, b, bmc.StateOn)
	if err != nil {
		return "", err
	}
	notes = append(notes, "BMC reports "+string(st), bmcTook(start))
	return strings.Join(notes, "; "), nil
}

// waitPower reads the power state until it is want or ctx ends.
func (p *provisioner) waitPower(ctx context.Context, b bmc.BMC, want bmc.PowerState) (bmc.PowerState, error) {
	start, last := time.Now(), bmc.StateUnknown
	for {
		st, err := b.PowerState(ctx)
		if ctx.Err() != nil {
			return last, fmt.Errorf("the BMC still reports %s, not %s, %s after the command", last, want, time.Since(start).Round(time.Millisecond))
		}
		if err != nil || st == want {
			return st, err
		}
		last = st
		t := time.NewTimer(p.pol.PollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// fence powers a lost node off and verifies it through the BMC; only then
// is its job failed and its partition released (the EvFenced command).
// The node is then powered on again, so that it can come back through
// cleaning; whether that worked is part of the evidence.
func (p *provisioner) fence(ctx context.Context, n *model.Node, b bmc.BMC) {
	fctx, cancel := context.WithTimeout(ctx, p.pol.FenceTimeout)
	defer cancel()
	start := time.Now()
	before, err := b.PowerState(fctx)
	if err == nil && before != bmc.StateOff {
		if err = b.PowerOff(fctx); err == nil {
			_, err = p.waitPower(fctx, b, bmc.StateOff)
		}
	}
	if err != nil {
		p.failed(ctx, n, "power off: "+err.Error(), "")
		return
	}
	ev := "BMC reports the host already Off"
	if before != bmc.StateOff {
		ev = fmt.Sprintf("ForceOff (host was %s); BMC reports Off (read back after %s)", before, time.Since(start).Round(time.Millisecond))
	}
	if err := b.PowerOn(ctx); err != nil {
		ev += "; powering on again for recovery failed: " + err.Error()
	} else {
		ev += "; powered on again for recovery"
	}
	reason := "its agent was lost"
	if n.Prov.Attempts == 0 && n.Prov.Reason != "" {
		reason = n.Prov.Reason
	}
	p.commit(ctx, n, &fsm.Provision{Event: model.EvFenced, Reason: reason, Evidence: ev})
}

// lost is what the liveness loop does with a node whose agent is gone: a
// node with a BMC that holds a job is fenced before its job is failed; a
// deploying node is left to its deployment's own timeouts (a power cycle
// takes its agent away on purpose); anything else goes down at once.
func (l *Loops) lost(ctx context.Context, n *model.Node, reason string) {
	store := l.cfg.Store
	if fsm.PowerCycling(n, store.Now()) {
		return // power-cycled for its BIOS on purpose (biosprofile.go)
	}
	if l.prov != nil && n.BMC != nil && n.Prov != nil {
		switch {
		case n.Prov.State == model.ProvDeploying || n.Prov.State == model.ProvFencing:
			return
		case n.State == model.NodeAllocated:
			c := &fsm.Provision{Node: n.Name, Event: model.EvFence, Reason: reason, Evidence: "fencing through BMC " + n.BMC.Endpoint, Time: store.Now()}
			if _, err := store.Apply(ctx, c); err != nil {
				l.cfg.Log.Warn("fence", "node", n.Name, "err", err)
			} else {
				l.cfg.Log.Warn("node lost: fencing it", "node", n.Name, "reason", reason)
			}
			return
		}
	}
	if _, err := store.Apply(ctx, &fsm.NodeDown{Node: n.Name, Reason: reason, Time: store.Now()}); err != nil {
		l.cfg.Log.Warn("node down", "node", n.Name, "err", err)
	} else {
		l.cfg.Log.Warn("node down", "node", n.Name, "reason", reason)
	}
}

// nodesDeployed reports whether every node of j may run it (deployed for
// it, or not provisioned through a BMC).
func (c *jobController) nodesDeployed(j *model.Job) bool {
	ok := true
	c.cfg.Store.Read(func(st *fsm.State) {
		for _, name := range j.Nodes {
			if n := st.Nodes[name]; n != nil && !n.Deployed(j.ID) {
				ok = false
				return
			}
		}
	})
	return ok
}

// imageUnavailable says why job j cannot have its image on one of its
// nodes (no BMC and agent to write it, and not carried already), or "".
func (c *jobController) imageUnavailable(j *model.Job) string {
	if j.Image == "" {
		return ""
	}
	why := ""
	c.cfg.Store.Read(func(st *fsm.State) {
		for _, name := range j.Nodes {
			if n := st.Nodes[name]; n != nil && !n.CanCarry(j.Image) {
				why = fmt.Sprintf("node %s cannot run image %s: it carries %q and has no registered BMC and agent to be imaged with (ibex nodes bmc set)", name, j.Image, n.Image)
				return
			}
		}
	})
	return why
}
