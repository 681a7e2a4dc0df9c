package model

import (
	"maps"
	"time"
)

// NodeState is the lifecycle state of a node. A node only reaches Ready from
// Cleaning (or Down, once it is back and cleaned): there is no edge from
// Allocated to Ready that skips the hygiene step.
type NodeState string

const (
	NodeReady     NodeState = "ready"     // clean and free
	NodeAllocated NodeState = "allocated" // holds a job
	NodeCleaning  NodeState = "cleaning"  // job ended; hygiene must finish before reuse
	NodeDown      NodeState = "down"      // unreachable
	// NodeQuarantined: hygiene or firmware failed; an operator must look.
	NodeQuarantined NodeState = "quarantined"
)

// Node is one whole bare-metal machine.
type Node struct {
	Name  string    `json:"name"`
	Leaf  string    `json:"leaf"` // leaf switch the node's HCA is cabled to
	State NodeState `json:"state"`
	JobID uint64    `json:"job_id,omitempty"`
	// LastJobID is the job whose leftovers the next cleaning must remove.
	LastJobID uint64 `json:"last_job_id,omitempty"`
	// LastPKey is the partition key the cleaning must see gone from the
	// node's ports before another tenant gets it.
	LastPKey uint16 `json:"last_pkey,omitempty"`

	// Agent is set once the node's agent enrolled; its cleaning then runs
	// through agent tasks (erase, firmware, image) instead of locally.
	Agent *Agent `json:"agent,omitempty"`
	// Task is the agent task in progress, Image the verified image on
	// the node's disk ("" if unknown or dirty), Reason why it is
	// quarantined or down.
	Task  *NodeTask `json:"task,omitempty"`
	Image string    `json:"image,omitempty"`
	// Inventory is the agent's last hardware report (JSON), received at
	// InventoryAt (each time the agent connects: a check-in).
	Inventory   string    `json:"inventory,omitempty"`
	InventoryAt time.Time `json:"inventory_at,omitzero"`
	Reason      string    `json:"reason,omitempty"`
	// Cleaning records which hygiene steps of the current cleaning are
	// done; the node becomes ready only when all are (see NextStep).
	Cleaning []TaskKind `json:"cleaning,omitempty"`
	// StepFailures counts failed attempts per step in the current
	// cleaning. It is replicated so that the retry limit (GaveUp) holds
	// across a leader change.
	StepFailures map[TaskKind]int `json:"step_failures,omitempty"`
	// Features are operator labels (gpu, a100, bigmem) jobs can ask for.
	Features []string `json:"features,omitempty"`
	// Infra says why an import classified the node as infrastructure
	// (login, storage, management): it is never scheduled unless an admin
	// labels it, and then only for jobs that ask for its labels.
	Infra string `json:"infra,omitempty"`
	// Placement is set on nodes that enrolled themselves (real machines):
	// their place in the fabric by the port GUIDs their agent reported.
	Placement *Placement `json:"placement,omitempty"`
	// Flaps counts recent down transitions, for flap damping.
	Flaps    int       `json:"flaps,omitempty"`
	LastDown time.Time `json:"last_down,omitzero"`

	Drained    bool      `json:"drained,omitempty"`
	DrainBy    string    `json:"drain_by,omitempty"`
	DrainNote  string    `json:"drain_reason,omitempty"`
	DrainTime  time.Time `json:"drain_time,omitzero"`
	StateSince time.Time `json:"state_since,omitzero"`

	// StoppedJob is the last job whose stop the ledger records with the
	// agent's evidence that none of its processes is left (a "stop"
	// entry); cleaning goes on only after it.
	StoppedJob uint64 `json:"stopped_job,omitempty"`
	// DiskSize is the node's disk size as its first challenged erase
	// reported it: later erases must report the same disk.
	DiskSize int64 `json:"disk_size,omitempty"`
	// Handout is the node's hand-out check, running or passed (see
	// model.Handout); Allocate takes only a passed one that is fresh and
	// the node's latest ledger entry.
	Handout *Handout `json:"handout,omitempty"`

	// LedgerSeq and LedgerHead are the number and hash of the node's
	// latest ledger entry: the chain continues from them after older
	// entries left the state for the archive.
	LedgerSeq  uint64 `json:"ledger_seq,omitempty"`
	LedgerHead string `json:"ledger_head,omitempty"`

	// BMC is the node's registered BMC, Prov its provisioning through it
	// (provision.go); both nil on nodes ibex does not provision.
	BMC  *NodeBMC   `json:"bmc,omitempty"`
	Prov *Provision `json:"prov,omitempty"`

	// --- firmware profiles (fwprofile.go) ---
	// FirmwareProfile is the approved profile the node's HCAs run for its
	// job, verified by the profile task ("": the baseline pin); the
	// cleaning's firmware step clears it once the baseline is verified.
	FirmwareProfile string `json:"firmware_profile,omitempty"`
	// FirmwareSeen is what ibex last verified on the HCAs.
	FirmwareSeen *FirmwareSeen `json:"firmware_seen,omitempty"`
	// BIOS is what ibex verified of the BIOS attributes through the BMC
	// (bios profiles, biosprofile.go); nil until ibex applied one.
	BIOS *NodeBIOS `json:"bios,omitempty"`
	// PowerCycleUntil is set while the leader power-cycles the node on
	// purpose (a BIOS profile's reset): until then its agent's absence is
	// expected, by whichever server leads. The FSM replaces it, never
	// writes through it.
	PowerCycleUntil *time.Time `json:"power_cycle_until,omitempty"`
}

// Clone returns a deep copy.
func (n *Node) Clone() *Node {
	c := new(Node)
	n.CloneTo(c)
	return c
}

// CloneTo makes *c a deep copy of n, so a caller copying many nodes can
// allocate them together.
func (n *Node) CloneTo(c *Node) {
	*c = *n
	if n.Agent != nil {
		a := *n.Agent
		c.Agent = &a
	}
	if n.Task != nil {
		t := *n.Task
		t.Challenge = n.Task.Challenge.Clone()
		c.Task = &t
	}
	c.Handout = n.Handout.Clone()
	c.Cleaning = append([]TaskKind(nil), n.Cleaning...)
	c.StepFailures = maps.Clone(n.StepFailures)
	c.Features = append([]string(nil), n.Features...)
	c.Placement = n.Placement.Clone()
	c.FirmwareSeen = n.FirmwareSeen.Clone()
	c.BIOS = n.BIOS.Clone()
	if n.BMC != nil {
		b := *n.BMC
		b.Credentials.Box = append([]byte(nil), n.BMC.Credentials.Box...)
		c.BMC = &b
	}
	if n.Prov != nil {
		p := *n.Prov
		c.Prov = &p
	}
}

// Schedulable reports whether the scheduler may hand the node to a job:
// ready, not drained, not held by its provisioning (enrolling, inspecting,
// or failed: see provision.go), and, for an infrastructure node, labelled.
func (n *Node) Schedulable() bool {
	return n.State == NodeReady && !n.Drained && !n.provHolds() && (n.Infra == "" || len(n.Features) > 0)
}

// DisplayState folds the drain flag into the state the way operators read
// it: "drained" (idle and drained) or "draining" (busy, drained when free),
// and "infra" for a ready infrastructure node nobody labelled.
func (n *Node) DisplayState() string {
	if !n.Drained && n.State == NodeReady && n.Infra != "" && len(n.Features) == 0 {
		return "infra" // ready, but never scheduled until labelled
	}
	if !n.Drained {
		return string(n.State)
	}
	if n.State == NodeReady || n.State == NodeDown {
		return "drained"
	}
	return "draining"
}

// Tenant owns jobs. Its bearer token is stored only as a SHA-256 digest.
type Tenant struct {
	Name      string `json:"name"`
	Admin     bool   `json:"admin,omitempty"`
	TokenHash string `json:"token_hash"`
}

// Server is one ibexd in the raft cluster, with the API address followers
// forward requests to.
type Server struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
}
