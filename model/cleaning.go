package model

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The rules of a node's cleaning between tenants, in one place: which agent
// tasks it needs and in which order, when it is done, how often a step may
// fail, and what proves the last tenant's partition key gone. The state
// machine enforces them; the server's hygiene controller follows them.

// TaskKind is what an agent task does to a node. The values are the JSON of
// NodeTask.Kind and Node.Cleaning and the ledger's step names, so they must
// not change.
type TaskKind string

const (
	TaskErase    TaskKind = "erase"    // wipe the disk of the last tenant's data
	TaskFirmware TaskKind = "firmware" // verify HCA firmware against the policy, re-pin if needed
	TaskImage    TaskKind = "image"    // write the cluster's image and verify its digest
)

// Valid reports whether k is a task kind this version knows.
func (k TaskKind) Valid() bool {
	return k == TaskErase || k == TaskFirmware || k == TaskImage || k == TaskFirmwareProfile
}

// CleaningPolicy is the cluster's part of the cleaning rules.
type CleaningPolicy struct {
	// Image is the catalog image ("name:version") a clean agent node
	// carries, or "" when the cluster has none.
	Image string
}

// MaxStepFailures is how often one step may fail in one cleaning before
// the node is quarantined for an operator instead of retried.
const MaxStepFailures = 3

// Steps are a cleaning's agent tasks in the order they run: erase first,
// since it wipes the disk and the image with it; firmware next; the image
// last, so nothing overwrites it before the node is handed out.
func (p CleaningPolicy) Steps() []TaskKind {
	if p.Image == "" {
		return []TaskKind{TaskErase, TaskFirmware}
	}
	return []TaskKind{TaskErase, TaskFirmware, TaskImage}
}

// StepDone reports whether step k of the node's current cleaning is done.
// The image step is done when the disk holds the policy's verified image,
// not when some image task succeeded: the policy may name a newer image.
func (p CleaningPolicy) StepDone(n *Node, k TaskKind) bool {
	if k == TaskImage {
		return p.Image != "" && n.Image == p.Image
	}
	return slices.Contains(n.Cleaning, k)
}

// NextStep returns the first step the node's cleaning still needs, or done
// when none is left. A node without an agent has no agent steps (the local
// executor cleans it), so it is always done here.
func NextStep(n *Node, p CleaningPolicy) (kind TaskKind, done bool) {
	if n.Agent == nil {
		return "", true
	}
	for _, k := range p.Steps() {
		if !p.StepDone(n, k) {
			return k, false
		}
	}
	return "", true
}

// GaveUp reports whether step k failed MaxStepFailures times in the node's
// current cleaning: it is not retried, the node goes to quarantine. The
// count is replicated (Node.StepFailures), so a new leader continues it.
func GaveUp(n *Node, k TaskKind) bool { return n.StepFailures[k] >= MaxStepFailures }

// PKeyCheck is what the fabric showed on a cleaning node's ports about the
// partition key of its last job. It is the fact, not a description, that
// lets another tenant have the node: see CheckKeyGone.
type PKeyCheck struct {
	PKey uint16 `json:"pkey,omitempty"`
	// NoFabric says the cluster has no subnet manager, hence no partitions.
	// It proves nothing for a node whose last job had a key.
	NoFabric bool        `json:"no_fabric,omitempty"`
	Ports    []PortCheck `json:"ports,omitempty"`
}

// PortCheck is one port's P_Key table as the subnet manager reported it.
type PortCheck struct {
	GUID       string    `json:"guid"`
	ObservedAt time.Time `json:"observed_at"`
	// Absent: the key was in the table with neither membership.
	Absent bool   `json:"absent"`
	Table  string `json:"table,omitempty"` // as read, for the ledger
}

// CheckKeyGone returns why c does not prove the partition key of n's last
// job gone from n's ports, or nil. It needs the key itself, absent on every
// port checked, each port observed after the cleaning began (a table read
// while the job ran proves nothing). Which ports a node has is known to the
// server's fabric configuration, not to the state, so the list is trusted
// to be complete; at least one port is required.
func CheckKeyGone(n *Node, c PKeyCheck) error {
	if n.LastPKey == 0 {
		return nil
	}
	switch {
	case c.NoFabric:
		return fmt.Errorf("last job had partition key %#04x; \"no fabric\" cannot prove it gone", n.LastPKey)
	case c.PKey != n.LastPKey:
		return fmt.Errorf("check is for partition key %#04x, the last job had %#04x", c.PKey, n.LastPKey)
	case len(c.Ports) == 0:
		return fmt.Errorf("partition key %#04x: no port checked", n.LastPKey)
	}
	for _, p := range c.Ports {
		if !p.Absent {
			return fmt.Errorf("partition key %#04x still on port %s", n.LastPKey, p.GUID)
		}
		if !p.ObservedAt.After(n.StateSince) {
			return fmt.Errorf("port %s observed at %s, before the cleaning began at %s", p.GUID,
				p.ObservedAt.Format(time.RFC3339Nano), n.StateSince.Format(time.RFC3339Nano))
		}
	}
	return nil
}

// String is the check as ledger evidence.
func (c PKeyCheck) String() string {
	switch {
	case c.NoFabric:
		return "no fabric"
	case c.PKey == 0:
		return "no partition key to remove"
	}
	verdict := "absent"
	ev := make([]string, len(c.Ports))
	for i, p := range c.Ports {
		ev[i] = fmt.Sprintf("port %s table %s at %s", p.GUID, p.Table, p.ObservedAt.Format(time.RFC3339Nano))
		if !p.Absent {
			verdict = "PRESENT"
		}
	}
	return fmt.Sprintf("pkey %#04x %s: %s", c.PKey, verdict, strings.Join(ev, "; "))
}
