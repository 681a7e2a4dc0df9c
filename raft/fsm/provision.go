package fsm

import (
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Commands of provisioning through nodes' BMCs: registering a BMC, the
// provisioning events the leader's loop commits with their evidence, and
// re-sealing a BMC login under a new key. What may follow what is
// model.Provision.Next; the handlers here add what only the whole state
// can check (the node's lifecycle and job) and the side effects on it.

// SetNodeBMC registers (or replaces) a node's BMC. The login arrives
// sealed: the API sealed it with the server's key-encryption key.
type SetNodeBMC struct {
	Node string        `json:"node"`
	BMC  model.NodeBMC `json:"bmc"`
	By   string        `json:"by"`
	Time time.Time     `json:"time"`
	Origin
}

// Provision is one provisioning event of a node with its evidence.
type Provision struct {
	Node     string           `json:"node"`
	Event    model.ProvEvent  `json:"event"`
	Step     model.DeployStep `json:"step,omitempty"`
	Job      uint64           `json:"job,omitempty"`
	Image    string           `json:"image,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Evidence string           `json:"evidence"`
	Time     time.Time        `json:"time"`
	Origin
	// ResetAt (power, #14.7): EvDeployStep's, when the power cycle that
	// ended the previous step was sent.
	ResetAt time.Time `json:"reset_at,omitzero"`
}

// ResealBMC replaces a node's sealed BMC login with the same login sealed
// under another key (key rotation), if it is still sealed under From.
type ResealBMC struct {
	Node        string       `json:"node"`
	From        string       `json:"from"`
	Credentials model.Sealed `json:"credentials"`
	Time        time.Time    `json:"time"`
	Origin
}

const (
	CmdSetNodeBMC CommandType = 80
	CmdProvision  CommandType = 81
	CmdResealBMC  CommandType = 82
)

func (SetNodeBMC) Type() CommandType { return CmdSetNodeBMC }
func (Provision) Type() CommandType  { return CmdProvision }
func (ResealBMC) Type() CommandType  { return CmdResealBMC }

func init() {
	registerE(CmdSetNodeBMC, (*State).setNodeBMC)
	registerE(CmdProvision, (*State).provision)
	registerE(CmdResealBMC, (*State).resealBMC)
}

// maxEvidence bounds a provisioning event's evidence and reason: they are
// BMC answers, summarised.
const maxEvidence = 4 << 10

func (s *State) setNodeBMC(c *SetNodeBMC) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if err := CheckSetNodeBMC(n, c.BMC); err != nil {
		return err
	}
	p := model.Provision{}
	if n.Prov != nil {
		p = *n.Prov
	}
	next, err := p.Next(model.ProvInput{Event: model.EvEnroll, Time: c.Time})
	if err != nil {
		return errorf(ErrConflict, "node %s: %v", n.Name, err)
	}
	b := c.BMC
	b.SetBy, b.SetAt = c.By, c.Time
	n.BMC, n.Prov = &b, &next
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "provision:" + string(model.EvEnroll), Actor: actor(c.By), OK: true,
		Evidence: fmt.Sprintf("BMC %s registered; %s → enroll: inspected before use", b.Describe(), p.State.Label())})
	return nil
}

// CheckSetNodeBMC is the state's verdict on registering b for n, which the
// API asks before sealing or proposing anything: a refused registration
// writes nothing to raft.
func CheckSetNodeBMC(n *model.Node, b model.NodeBMC) error {
	if err := b.Validate(); err != nil {
		return errorf(ErrInvalid, "node %s: %v", n.Name, err)
	}
	if n.State == model.NodeAllocated {
		return errorf(ErrConflict, "node %s holds job %d; register its BMC when the node is free (drain it first)", n.Name, n.JobID)
	}
	if n.Prov != nil && (n.Prov.State == model.ProvDeploying || n.Prov.State == model.ProvFencing) {
		return errorf(ErrConflict, "node %s is %s; register its BMC after that ends", n.Name, n.Prov.State)
	}
	return nil
}

func (s *State) provision(c *Provision) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.BMC == nil || n.Prov == nil {
		return errorf(ErrConflict, "node %s has no BMC registered", n.Name)
	}
	if len(c.Evidence) > maxEvidence || len(c.Reason) > maxEvidence {
		return errorf(ErrInvalid, "node %s: evidence or reason over %d bytes", n.Name, maxEvidence)
	}
	if c.Event == model.EvEnroll || c.Event == model.EvRelease {
		return errorf(ErrInvalid, "node %s: %s is an operator's event (bmc set, undrain)", n.Name, c.Event)
	}
	if err := s.checkProvision(n, c); err != nil {
		return err
	}
	from := *n.Prov
	next, err := from.Next(model.ProvInput{Event: c.Event, Time: c.Time, Step: c.Step, Job: c.Job, Image: c.Image, Reason: c.Reason, ResetAt: c.ResetAt})
	if err != nil {
		return errorf(ErrConflict, "node %s: %v", n.Name, err)
	}
	n.Prov = &next
	job := n.JobID
	if job == 0 {
		job = from.Job
	}
	okEvent := c.Event != model.EvRetry && c.Event != model.EvFail
	ev := fmt.Sprintf("%s → %s", from.State.Label(), next.State.Label())
	if next.Step != "" && next.Step != from.Step {
		ev += "/" + string(next.Step)
	}
	if c.Reason != "" {
		ev += ": " + c.Reason
	}
	if c.Evidence != "" {
		ev += "; " + c.Evidence
	}
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Start: from.Since, Step: "provision:" + string(c.Event), Actor: "ibexd", OK: okEvent, Evidence: ev, JobID: job})
	s.provisionEffects(n, c, from, next)
	return nil
}

// checkProvision is what each event needs of the node's lifecycle.
func (s *State) checkProvision(n *model.Node, c *Provision) error {
	active := func() (*model.Job, bool) {
		j, ok := s.Jobs[n.JobID]
		return j, ok && n.JobID != 0 && n.State == model.NodeAllocated && j.State.Active()
	}
	if n.Prov.State == model.ProvDeploying && c.Event != model.EvFence && c.Job != 0 && c.Job != n.Prov.Job {
		// An outcome for an earlier deployment of this node.
		return errorf(ErrConflict, "node %s is deploying job %d, not %d", n.Name, n.Prov.Job, c.Job)
	}
	switch c.Event {
	case model.EvInspect:
		if n.State == model.NodeAllocated {
			return errorf(ErrConflict, "node %s holds job %d; it is inspected when free", n.Name, n.JobID)
		}
	case model.EvDeploy:
		j, ok := active()
		if !ok || j.ID != c.Job || j.State != model.JobScheduled {
			return errorf(ErrConflict, "node %s: job %d is not a scheduled job of this node", n.Name, c.Job)
		}
		if c.Image != "" {
			if _, ok := s.Images[c.Image]; !ok {
				return errorf(ErrNotFound, "image %s is not in the catalog", c.Image)
			}
		}
	case model.EvDeployStep, model.EvDeployed:
		if n.State != model.NodeAllocated || n.JobID != n.Prov.Job {
			return errorf(ErrConflict, "node %s no longer holds job %d", n.Name, n.Prov.Job)
		}
		if c.Event == model.EvDeployed && n.Prov.Image != "" && n.Agent != nil && n.Image != n.Prov.Image {
			return errorf(ErrConflict, "node %s holds image %q, not the verified %s", n.Name, n.Image, n.Prov.Image)
		}
	case model.EvDeployAbort:
		if n.State == model.NodeAllocated && n.JobID == n.Prov.Job {
			return errorf(ErrConflict, "node %s still holds job %d", n.Name, n.JobID)
		}
	case model.EvFence:
		if _, ok := active(); !ok {
			return errorf(ErrConflict, "node %s holds no active job: nothing to fence for", n.Name)
		}
	}
	return nil
}

// provisionEffects applies what a provisioning event does to the node and
// its job beyond the record itself.
func (s *State) provisionEffects(n *model.Node, c *Provision, from, to model.Provision) {
	switch {
	case c.Event == model.EvInspected && n.State == model.NodeReady:
		// Inspected: cleaned before anyone gets it (Ironic: inspect → clean → available).
		beginCleaning(n, c.Time)
	case c.Event == model.EvFenced:
		s.lostNodeDown(n, c.Origin, "lost, then fenced ("+c.Evidence+"): "+c.Reason, c.Time)
	case c.Event == model.EvFail:
		failure := string(to.State)
		if j, ok := s.Jobs[n.JobID]; ok && n.JobID != 0 && j.State.Active() {
			what := "deployment"
			if from.State == model.ProvFencing {
				what = "lost, and fencing"
			}
			s.endJob(j, model.JobFailed, nil, fmt.Sprintf("node %s: %s failed: %s", n.Name, what, c.Reason), c.Time)
		}
		// Quarantined, never handed out: an operator looks (undrain).
		s.interrupt(n, c.Origin, failure+": "+c.Reason, c.Time) // custody.go
		n.State, n.Reason, n.StateSince, n.Task = model.NodeQuarantined, failure+": "+c.Reason, c.Time, nil
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "quarantine", Actor: "ibexd", OK: true, Evidence: n.Reason})
	}
}

// lostNodeDown is NodeDown for a node whose loss the leader confirmed.
func (s *State) lostNodeDown(n *model.Node, o Origin, reason string, t time.Time) {
	_ = s.nodeDown(&NodeDown{Node: n.Name, Reason: reason, Time: t, Origin: o})
}

// releaseProvision is the provisioning side of an operator's undrain of a
// quarantined node: a failed node starts over (a failed inspection or
// fence is inspected again). It returns what to add to the ledger.
func releaseProvision(n *model.Node, t time.Time) string {
	if n.Prov == nil || !n.Prov.State.Failed() {
		return ""
	}
	from := n.Prov.State
	next, err := n.Prov.Next(model.ProvInput{Event: model.EvRelease, Time: t})
	if err != nil {
		return ""
	}
	n.Prov = &next
	return fmt.Sprintf("; provisioning %s → %s", from, next.State.Label())
}

// abortDeployment ends the deployment of job on n when the job ended
// before the node was deployed.
func abortDeployment(n *model.Node, job uint64, t time.Time) {
	if n.Prov == nil || n.Prov.State != model.ProvDeploying || n.Prov.Job != job {
		return
	}
	if next, err := n.Prov.Next(model.ProvInput{Event: model.EvDeployAbort, Time: t}); err == nil {
		n.Prov = &next
	}
}

// deployTask reports whether task t is the image step of n's deployment,
// which runs while the node is allocated (not cleaning).
func deployTask(n *model.Node, t model.NodeTask) bool {
	p := n.Prov
	return p != nil && p.State == model.ProvDeploying && p.Step == model.StepImage && n.State == model.NodeAllocated &&
		n.JobID == p.Job && t.Kind == model.TaskImage && t.Image == p.Image && p.Image != ""
}

func (s *State) resealBMC(c *ResealBMC) error {
	n, ok := s.Nodes[c.Node]
	if !ok || n.BMC == nil {
		return errorf(ErrNotFound, "node %q has no BMC", c.Node)
	}
	if n.BMC.Credentials.KeyID != c.From {
		return errorf(ErrConflict, "node %s: BMC login is sealed under %s, not %s", n.Name, n.BMC.Credentials.KeyID, c.From)
	}
	b := *n.BMC
	b.Credentials = c.Credentials
	if err := b.Validate(); err != nil {
		return errorf(ErrInvalid, "node %s: %v", n.Name, err)
	}
	n.BMC = &b
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "provision:reseal", Actor: "ibexd", OK: true,
		Evidence: fmt.Sprintf("BMC login re-sealed under key %s (was %s)", c.Credentials.KeyID, c.From)})
	return nil
}

// checkJobImage refuses a job whose image is not in the catalog, or that
// fewer nodes than it needs could ever run (model.Node.CanCarry).
func (s *State) checkJobImage(j *model.Job) error {
	if j.Image == "" {
		return nil
	}
	if img, ok := s.Images[j.Image]; !ok || !img.VisibleTo(j.Tenant) {
		// Another tenant's image is "not in the catalog" too: its name
		// tells nothing about it.
		return errorf(ErrNotFound, "image %s is not in the catalog (see `ibex images list`)", j.Image)
	}
	can := 0
	for _, n := range s.Nodes {
		if n.CanCarry(j.Image) && hasAll(n.Features, j.Features) {
			can++
		}
	}
	if can < j.NumNodes {
		return errorf(ErrInvalid, "%d nodes with image %s requested, but only %d nodes carry it or can be imaged (a registered BMC and an agent)", j.NumNodes, j.Image, can)
	}
	return nil
}
