package model

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Provisioning through a node's BMC, in the spirit of OpenStack Ironic's
// state machine. A node with a registered BMC (Node.BMC) carries a
// Provision record; its State is the part of the lifecycle that the
// leader's provisioning loop drives through the BMC:
//
//	enroll → inspecting → (cleaning → available) → deploying → (active → cleaning → available) ...
//	             ↓                                     ↓
//	       inspect-failed                        deploy-failed
//	(active, lost) → fencing → (down) ...
//	                    ↓
//	              fence-failed
//
// The states in parentheses are not stored here: they are the node's own
// lifecycle (Node.State), which Provision leaves alone while its State is
// ProvNone; ProvisionState shows both as one. Every failure has a named
// state that only an operator leaves (EvRelease, i.e. `ibex undrain`, or
// registering the BMC again): no event leads from a failure to available.
//
// Next is the whole transition function: pure, deterministic and
// table-driven (provTable), so the state machine in raft/fsm and the
// leader's loop in server/control share one definition of what may follow
// what, and it can be tested and fuzzed on its own.

// ProvState is a node's provisioning state.
type ProvState string

// The stored provisioning states.
const (
	// ProvNone: nothing to do through the BMC; the node follows its
	// lifecycle (available, active, cleaning, down).
	ProvNone ProvState = ""
	// ProvEnroll: a BMC was registered; nothing about it is verified yet.
	ProvEnroll ProvState = "enroll"
	// ProvInspecting: the leader reads the BMC's inventory and cross-checks
	// it with the agent's own report.
	ProvInspecting    ProvState = "inspecting"
	ProvInspectFailed ProvState = "inspect-failed"
	// ProvDeploying: a job's allocation is being deployed (power cycle,
	// one-time boot, image, boot to disk, check-in); the job starts after.
	ProvDeploying    ProvState = "deploying"
	ProvDeployFailed ProvState = "deploy-failed"
	// ProvFencing: the node was lost while holding a job; the leader powers
	// it off through the BMC and verifies that before the job is
	// considered dead and its partition released.
	ProvFencing     ProvState = "fencing"
	ProvFenceFailed ProvState = "fence-failed"
)

// The derived provisioning states: ProvNone shown by the node's lifecycle.
const (
	ProvAvailable   ProvState = "available"    // ready: may be handed out
	ProvActive      ProvState = "active"       // deployed, holding its job
	ProvAllocated   ProvState = "allocated"    // holding a job whose deployment has not begun
	ProvCleaning    ProvState = "cleaning"     // the hygiene steps between tenants
	ProvCleanFailed ProvState = "clean-failed" // quarantined by a hygiene step
	ProvDown        ProvState = "down"         // its agent is gone (after fencing, when it held a job)
)

// Failed reports whether s is a failure state.
func (s ProvState) Failed() bool {
	return s == ProvInspectFailed || s == ProvDeployFailed || s == ProvFenceFailed || s == ProvCleanFailed
}

// ProvEvent is what happens to a node's provisioning.
type ProvEvent string

// The events. Each names the evidence that allows it (see provTable).
const (
	EvEnroll      ProvEvent = "enroll"       // an operator registered the node's BMC (again)
	EvInspect     ProvEvent = "inspect"      // the leader begins reading the BMC
	EvInspected   ProvEvent = "inspected"    // the BMC's and the agent's inventories agree
	EvDeploy      ProvEvent = "deploy"       // the node's job was allocated; its deployment begins
	EvDeployStep  ProvEvent = "deploy-step"  // a deploy step's evidence is in; the next step begins
	EvDeployed    ProvEvent = "deployed"     // the agent checked in on the job's image
	EvDeployAbort ProvEvent = "deploy-abort" // the job ended while its nodes were deploying
	EvFence       ProvEvent = "fence"        // the node was lost while holding a job
	EvFenced      ProvEvent = "fenced"       // the BMC reports the node powered off
	EvRetry       ProvEvent = "retry"        // an attempt failed or timed out; the retry budget allows another
	EvFail        ProvEvent = "fail"         // the retry budget is spent, or the evidence is conclusive
	EvRelease     ProvEvent = "release"      // an operator released the node from a failure
)

// DeployStep is one step of a deployment, in the order of deploySteps.
type DeployStep string

// The deploy steps.
const (
	// StepPowerCycle: one-time boot to the ramdisk (PXE, UEFI HTTP or a
	// virtual-media ISO, in UEFI mode), then a power cycle; its evidence is
	// the BMC reporting the host On.
	StepPowerCycle DeployStep = "power-cycle"
	// StepRamdisk: waiting for the ramdisk's agent to check in (a hardware
	// report after the power cycle).
	StepRamdisk DeployStep = "ramdisk"
	// StepImage: the agent writes the image and verifies its digest.
	StepImage DeployStep = "image"
	// StepBootDisk: one-time boot to disk, then a power cycle.
	StepBootDisk DeployStep = "boot-disk"
	// StepCheckIn: waiting for the agent on the deployed image to check in.
	StepCheckIn DeployStep = "check-in"
)

// DeploySteps are the deploy steps in order.
var DeploySteps = []DeployStep{StepPowerCycle, StepRamdisk, StepImage, StepBootDisk, StepCheckIn}

func (s DeployStep) index() int { return slices.Index(DeploySteps, s) }

// Valid reports whether s is a deploy step this version knows.
func (s DeployStep) Valid() bool { return s.index() >= 0 }

// ProvRetryBudget is how many attempts an inspection, a deployment (all
// its steps together) or a fence gets (the first and two retries) before
// it fails to its named state. It is counted in the replicated Provision
// record, so a new leader continues the count instead of starting over.
const ProvRetryBudget = 3

// Provision is the replicated provisioning record of a node with a BMC.
type Provision struct {
	State ProvState  `json:"state,omitempty"`
	Step  DeployStep `json:"step,omitempty"` // while deploying
	// Since is when the current state, step or attempt began: the leader's
	// timeouts run from it, so a new leader computes the same deadline.
	Since time.Time `json:"since,omitzero"`
	// Attempts counts the failed attempts of the current state (a
	// deployment's across its steps). Reason is set by the last failed
	// attempt until the next step begins: the loop rests RetryWait first.
	Attempts int `json:"attempts,omitempty"`
	// Job and Image are what is being deployed; Deployed is the last job
	// whose deployment completed (the job controller starts a job on a BMC
	// node only when it is this).
	Job      uint64 `json:"job,omitempty"`
	Image    string `json:"image,omitempty"`
	Deployed uint64 `json:"deployed,omitempty"`
	// Reason is why the last attempt failed, why the node is in a failure
	// state, or (fencing) why it counts as lost.
	Reason string `json:"reason,omitempty"`

	// --- power (#14.7) ---
	// ResetAt is when the power cycle of the step before this one was
	// sent (StepRamdisk, StepCheckIn after StepBootDisk): the node's agent
	// checks in after that, and may do so before the step's own commit
	// (Since) when the boot is quicker than raft. Zero: use Since.
	ResetAt time.Time `json:"reset_at,omitzero"`
}

// BootedAfter is the time after which a check-in counts as the current
// boot's: the power cycle's, else the step's start.
func (p Provision) BootedAfter() time.Time {
	if !p.ResetAt.IsZero() {
		return p.ResetAt
	}
	return p.Since
}

// ProvInput is an event with what it carries.
type ProvInput struct {
	Event ProvEvent
	Time  time.Time
	// Step is the first step of EvDeploy, the next step of EvDeployStep,
	// and for EvRetry (optional) the step to start again from.
	Step DeployStep
	// Job and Image are EvDeploy's.
	Job   uint64
	Image string
	// Reason is EvRetry's and EvFail's.
	Reason string
	// ResetAt is EvDeployStep's: when the power cycle that ended the
	// previous step was sent (zero when it sent none).
	ResetAt time.Time
}

// provTable is the transition function: from a stored state, each allowed
// event and the state it leads to. Anything else is refused.
var provTable = map[ProvState]map[ProvEvent]ProvState{
	ProvNone: {
		EvEnroll: ProvEnroll,
		EvDeploy: ProvDeploying,
		EvFence:  ProvFencing,
	},
	ProvEnroll: {
		EvEnroll:  ProvEnroll,
		EvInspect: ProvInspecting,
	},
	ProvInspecting: {
		EvEnroll:    ProvEnroll,
		EvInspected: ProvNone,
		EvRetry:     ProvInspecting,
		EvFail:      ProvInspectFailed,
	},
	ProvInspectFailed: {
		EvEnroll:  ProvEnroll,
		EvRelease: ProvEnroll, // inspected again before anything else
	},
	ProvDeploying: {
		EvDeployStep:  ProvDeploying,
		EvDeployed:    ProvNone,
		EvDeployAbort: ProvNone,
		EvRetry:       ProvDeploying,
		EvFail:        ProvDeployFailed,
		EvFence:       ProvFencing,
	},
	ProvDeployFailed: {
		EvEnroll:  ProvEnroll,
		EvRelease: ProvNone, // the undrain that releases it cleans it first
	},
	ProvFencing: {
		EvFenced: ProvNone,
		EvRetry:  ProvFencing,
		EvFail:   ProvFenceFailed,
	},
	ProvFenceFailed: {
		EvEnroll:  ProvEnroll,
		EvRelease: ProvEnroll, // a BMC that could not fence is inspected again
	},
}

// ProvEvents lists every event, for tests and fuzzing.
var ProvEvents = []ProvEvent{EvEnroll, EvInspect, EvInspected, EvDeploy, EvDeployStep, EvDeployed, EvDeployAbort,
	EvFence, EvFenced, EvRetry, EvFail, EvRelease}

// ProvStates lists every stored state.
var ProvStates = []ProvState{ProvNone, ProvEnroll, ProvInspecting, ProvInspectFailed, ProvDeploying, ProvDeployFailed,
	ProvFencing, ProvFenceFailed}

// Next returns the record after in, or an error saying why in is not
// allowed now. It does not modify p.
func (p Provision) Next(in ProvInput) (Provision, error) {
	to, ok := provTable[p.State][in.Event]
	if !ok {
		return p, fmt.Errorf("provisioning event %q is not allowed in state %s", in.Event, p.State.Label())
	}
	if in.Time.IsZero() {
		return p, fmt.Errorf("provisioning event %q has no time", in.Event)
	}
	q := p
	q.State, q.Since = to, in.Time
	switch in.Event {
	case EvRetry:
		if in.Reason == "" {
			return p, fmt.Errorf("a retry needs the reason the attempt failed")
		}
		if p.Attempts+1 >= ProvRetryBudget {
			return p, fmt.Errorf("state %s has used %d of %d attempts: it fails now (%s)", p.label(), p.Attempts+1, ProvRetryBudget, in.Reason)
		}
		if in.Step != "" {
			if p.State != ProvDeploying || !in.Step.Valid() || in.Step.index() > p.Step.index() {
				return p, fmt.Errorf("a retry of %s cannot start again from step %q", p.label(), in.Step)
			}
			q.Step = in.Step
		}
		q.Attempts, q.Reason = p.Attempts+1, in.Reason
		return q, nil
	case EvFail:
		if in.Reason == "" {
			return p, fmt.Errorf("a failure needs its reason")
		}
		q.Reason = in.Reason
		return q, nil
	case EvDeploy:
		if in.Job == 0 || !in.Step.Valid() {
			return p, fmt.Errorf("a deployment needs its job and a first step (%v), got job %d step %q", DeploySteps, in.Job, in.Step)
		}
		q.Job, q.Image, q.Step = in.Job, in.Image, in.Step
	case EvDeployStep:
		if !in.Step.Valid() || in.Step.index() <= p.Step.index() {
			return p, fmt.Errorf("deploy step %q does not follow %q (the order is %v)", in.Step, p.Step, DeploySteps)
		}
		// The budget is the deployment's, not the step's: a retry may
		// start over from an earlier step, and passing that step again
		// must not buy the deployment new attempts.
		q.Step, q.Reason = in.Step, ""
		q.ResetAt = in.ResetAt
		if q.ResetAt.After(in.Time) {
			return p, fmt.Errorf("deploy step %s: power cycle sent at %s, after the step began (%s)", in.Step,
				q.ResetAt.Format(time.RFC3339Nano), in.Time.Format(time.RFC3339Nano))
		}
		return q, nil
	case EvDeployed:
		if p.Step != StepCheckIn {
			return p, fmt.Errorf("deployment is at step %s, not %s", p.Step, StepCheckIn)
		}
		q.Deployed = p.Job
	}
	// Every other event begins a new state or step: a fresh budget.
	q.ResetAt = time.Time{}
	q.Attempts, q.Reason = 0, ""
	if to != ProvDeploying {
		q.Step, q.Job, q.Image = "", 0, ""
	}
	if in.Event == EvFence {
		q.Reason = in.Reason // why the node counts as lost
	}
	return q, nil
}

// Label is the state for messages: "none" for ProvNone.
func (s ProvState) Label() string {
	if s == ProvNone {
		return "none"
	}
	return string(s)
}

// label names the state, and the step while deploying.
func (p Provision) label() string {
	if p.State == ProvDeploying && p.Step != "" {
		return string(p.State) + "/" + string(p.Step)
	}
	return p.State.Label()
}

// ProvFailureFor is the failure state EvFail leads to from s, or "".
func ProvFailureFor(s ProvState) ProvState { return provTable[s][EvFail] }

// ProvisionState is the node's provisioning state as operators read it:
// the stored state while the BMC loop works on the node or it failed,
// else its lifecycle in Ironic's words. A node without a BMC has none.
func (n *Node) ProvisionState() ProvState {
	if n.BMC == nil {
		return ProvNone
	}
	if n.Prov != nil && n.Prov.State != ProvNone {
		return n.Prov.State
	}
	switch n.State {
	case NodeReady:
		return ProvAvailable
	case NodeAllocated:
		if n.Prov != nil && n.Prov.Deployed != 0 && n.Prov.Deployed == n.JobID {
			return ProvActive
		}
		return ProvAllocated
	case NodeCleaning:
		return ProvCleaning
	case NodeQuarantined:
		return ProvCleanFailed
	default:
		return ProvDown
	}
}

// provHolds reports whether the BMC loop holds the node back from
// scheduling: anything but ProvNone (enrolling, inspecting, a failure;
// deploying and fencing only happen to allocated nodes anyway).
func (n *Node) provHolds() bool { return n.Prov != nil && n.Prov.State != ProvNone }

// Deployed reports whether the node may run job id: a node without a BMC
// always may; one with a BMC once its deployment for id completed.
func (n *Node) Deployed(id uint64) bool {
	if n.BMC == nil {
		return true
	}
	return n.Prov != nil && n.Prov.State == ProvNone && n.Prov.Deployed == id
}

// Describe is the record in one line for `ibex nodes show`.
func (p Provision) Describe(budget int) string {
	var b strings.Builder
	b.WriteString(p.label())
	if p.Attempts > 0 {
		fmt.Fprintf(&b, ", attempt %d of %d", p.Attempts+1, budget)
	}
	if p.Job != 0 {
		fmt.Fprintf(&b, ", job %d", p.Job)
	}
	if p.Image != "" {
		fmt.Fprintf(&b, ", image %s", p.Image)
	}
	if p.Reason != "" {
		fmt.Fprintf(&b, ": %s", p.Reason)
	}
	return b.String()
}
