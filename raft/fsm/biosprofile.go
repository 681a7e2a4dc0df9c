package fsm

import (
	"fmt"
	"maps"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// BIOS firmware profiles (kind bios: Redfish BIOS attributes). The leader
// applies them through the node's BMC before the job starts and restores
// the baseline during the cleaning (server/control/biosprofile.go); the
// state machine checks the readings it brings back and records each step
// in the node's ledger. A job with a bios profile starts only on nodes
// whose BIOS runs it (startJob), and a node is clean only once the
// baseline is back (nodeCleaned).

// BIOSProfileApplied records a bios profile applied to a node of a
// scheduled job: the baseline values read before (what the cleaning puts
// back) and the values read back after the power cycle.
type BIOSProfileApplied struct {
	Node      string            `json:"node"`
	JobID     uint64            `json:"job_id"`
	Profile   string            `json:"profile"`
	Baseline  map[string]string `json:"baseline"`
	Readings  map[string]string `json:"readings"`
	ApplyTime string            `json:"apply_time,omitempty"`
	Start     time.Time         `json:"start"`
	Time      time.Time         `json:"time"`
}

// BIOSRestored records a cleaning node's BIOS back at the baseline, read
// back through the BMC after the power cycle that applied it.
type BIOSRestored struct {
	Node     string            `json:"node"`
	JobID    uint64            `json:"job_id"`
	Readings map[string]string `json:"readings"`
	Start    time.Time         `json:"start"`
	Time     time.Time         `json:"time"`
}

// BIOSStepFailed records a failed attempt at applying (Step
// "bios-profile") or restoring ("bios-restore") a bios profile. A failed
// restore counts against the cleaning's budget (model.GaveUp). A failed
// apply that had read the baseline carries it (and the profile): the
// BMC may hold some of the profile already, so the cleaning restores it.
type BIOSStepFailed struct {
	Node     string            `json:"node"`
	JobID    uint64            `json:"job_id"`
	Step     string            `json:"step"`
	Error    string            `json:"error"`
	Profile  string            `json:"profile,omitempty"`
	Baseline map[string]string `json:"baseline,omitempty"`
	Start    time.Time         `json:"start"`
	Time     time.Time         `json:"time"`
}

const (
	CmdBIOSProfileApplied CommandType = 91
	CmdBIOSRestored       CommandType = 92
	CmdBIOSStepFailed     CommandType = 93
)

func (BIOSProfileApplied) Type() CommandType { return CmdBIOSProfileApplied }
func (BIOSRestored) Type() CommandType       { return CmdBIOSRestored }
func (BIOSStepFailed) Type() CommandType     { return CmdBIOSStepFailed }

func init() {
	registerE(CmdBIOSProfileApplied, (*State).biosProfileApplied)
	registerE(CmdBIOSRestored, (*State).biosRestored)
	registerE(CmdBIOSStepFailed, (*State).biosStepFailed)
}

// Ledger steps of bios profiles.
const (
	StepBIOSProfile = "bios-profile"
	StepBIOSRestore = "bios-restore"
)

// maxBIOSError bounds a failure's text in the ledger.
const maxBIOSError = 1024

func (s *State) biosProfileApplied(c *BIOSProfileApplied) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	j, ok := s.Jobs[c.JobID]
	switch {
	case !ok || n.JobID != c.JobID || n.State != model.NodeAllocated:
		return errorf(ErrConflict, "node %s does not hold job %d", c.Node, c.JobID)
	case j.State != model.JobScheduled:
		return errorf(ErrConflict, "job %d is %s; a bios profile is applied before the job starts", j.ID, j.State)
	case j.FirmwareProfile != c.Profile:
		return errorf(ErrConflict, "job %d asks for firmware profile %q, not %q", j.ID, j.FirmwareProfile, c.Profile)
	case n.BMC == nil:
		return errorf(ErrConflict, "node %s has no BMC to apply bios profile %s through", c.Node, c.Profile)
	case n.BIOS != nil && n.BIOS.Profile != "" && n.BIOS.Job != c.JobID:
		return errorf(ErrConflict, "node %s already runs bios profile %s for job %d", c.Node, n.BIOS.Profile, n.BIOS.Job)
	}
	p, ok := s.FirmwareProfiles[c.Profile]
	if !ok || p.Kind != model.ProfileBIOS {
		return errorf(ErrNotFound, "bios profile %q is not approved", c.Profile)
	}
	if err := model.ValidateBIOSReadings(c.Baseline); err != nil {
		return errorf(ErrInvalid, "baseline: %v", err)
	}
	if err := model.ValidateBIOSReadings(c.Readings); err != nil {
		return errorf(ErrInvalid, "readings: %v", err)
	}
	for k := range p.BIOS {
		if _, ok := c.Baseline[k]; !ok {
			return errorf(ErrInvalid, "node %s: no baseline value of %s to restore after the job", c.Node, k)
		}
	}
	if err := model.CheckBIOSReadings(p.BIOS, c.Readings); err != nil {
		return errorf(ErrInvalid, "node %s: bios profile %s not verified: %v", c.Node, c.Profile, err)
	}
	n.BIOS = &model.NodeBIOS{Profile: c.Profile, Job: c.JobID, Baseline: copyKeys(c.Baseline, p.BIOS), Verified: copyKeys(c.Readings, p.BIOS), Applied: true}
	ev := fmt.Sprintf("bios profile %s applied through the BMC (apply time %s) and read back after a power cycle: %s; baseline kept for the cleaning: %s",
		c.Profile, applyTimeText(c.ApplyTime), model.DescribeBIOS(n.BIOS.Verified), model.DescribeBIOS(n.BIOS.Baseline))
	s.ledger(n, model.LedgerEntry{Time: c.Time, Start: c.Start, End: c.Time, Step: StepBIOSProfile, Actor: "ibexd", OK: true, Evidence: ev, JobID: c.JobID})
	return nil
}

func applyTimeText(at string) string {
	if at == "" {
		return "the BMC's default, the next reset"
	}
	return at
}

// copyKeys is m restricted to the keys of want.
func copyKeys(m, want map[string]string) map[string]string {
	out := make(map[string]string, len(want))
	for k := range want {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func (s *State) biosRestored(c *BIOSRestored) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	switch {
	case n.State != model.NodeCleaning:
		return errorf(ErrConflict, "node %s is %s, not cleaning", c.Node, n.State)
	case n.BIOS == nil || n.BIOS.Profile == "":
		return errorf(ErrConflict, "node %s runs no bios profile to restore", c.Node)
	case c.JobID != n.LastJobID || c.JobID != n.BIOS.Job:
		return errorf(ErrConflict, "node %s: restore record is for job %d, the profile was applied for job %d", c.Node, c.JobID, n.BIOS.Job)
	}
	if err := model.ValidateBIOSReadings(c.Readings); err != nil {
		return errorf(ErrInvalid, "readings: %v", err)
	}
	if err := model.CheckBIOSReadings(n.BIOS.Baseline, c.Readings); err != nil {
		return errorf(ErrInvalid, "node %s: baseline not verified: %v", c.Node, err)
	}
	prof := n.BIOS.Profile
	n.BIOS = &model.NodeBIOS{Verified: copyKeys(c.Readings, n.BIOS.Baseline)}
	ev := fmt.Sprintf("bios profile %s removed: baseline restored through the BMC and read back after a power cycle: %s", prof, model.DescribeBIOS(n.BIOS.Verified))
	s.ledger(n, model.LedgerEntry{Time: c.Time, Start: c.Start, End: c.Time, Step: StepBIOSRestore, Actor: "ibexd", OK: true, Evidence: ev, JobID: c.JobID})
	return nil
}

func (s *State) biosStepFailed(c *BIOSStepFailed) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if c.Error == "" || len(c.Error) > maxBIOSError {
		return errorf(ErrInvalid, "a failure record needs an error of 1..%d bytes", maxBIOSError)
	}
	switch c.Step {
	case StepBIOSProfile:
		if n.JobID != c.JobID || n.State != model.NodeAllocated {
			return errorf(ErrConflict, "node %s does not hold job %d", c.Node, c.JobID)
		}
		if len(c.Baseline) > 0 {
			if err := model.ValidateBIOSReadings(c.Baseline); err != nil {
				return errorf(ErrInvalid, "baseline: %v", err)
			}
			if n.BIOS != nil && n.BIOS.Profile != "" && n.BIOS.Job != c.JobID {
				return errorf(ErrConflict, "node %s still runs bios profile %s of job %d", c.Node, n.BIOS.Profile, n.BIOS.Job)
			}
			if c.Profile == "" {
				return errorf(ErrInvalid, "a failed apply with a baseline names its profile")
			}
			// Not verified (Verified stays as it was): StartJob still
			// refuses, the cleaning restores the baseline.
			var verified map[string]string
			if n.BIOS != nil {
				verified = n.BIOS.Verified
			}
			n.BIOS = &model.NodeBIOS{Profile: c.Profile, Job: c.JobID, Baseline: maps.Clone(c.Baseline), Verified: verified}
		}
	case StepBIOSRestore:
		if n.State != model.NodeCleaning || n.BIOS == nil || n.BIOS.Profile == "" || c.JobID != n.LastJobID {
			return errorf(ErrConflict, "node %s is not restoring a bios profile after job %d", c.Node, c.JobID)
		}
		if n.StepFailures == nil {
			n.StepFailures = map[model.TaskKind]int{}
		}
		n.StepFailures[model.TaskBIOSRestore]++
	default:
		return errorf(ErrInvalid, "step %q: want %s or %s", c.Step, StepBIOSProfile, StepBIOSRestore)
	}
	s.ledger(n, model.LedgerEntry{Time: c.Time, Start: c.Start, End: c.Time, Step: c.Step, Actor: "ibexd", OK: false, Evidence: c.Error, JobID: c.JobID})
	return nil
}

// nodeRunsProfile reports whether n runs j's firmware profile, as StartJob
// requires: an hca profile is the node's FirmwareProfile (the agent's), a
// bios profile its BIOS's, applied for this job.
func (s *State) nodeRunsProfile(n *model.Node, j *model.Job) error {
	if p, ok := s.FirmwareProfiles[j.FirmwareProfile]; ok && j.FirmwareProfile != "" && p.Kind == model.ProfileBIOS {
		if n.BIOS == nil || n.BIOS.Profile != j.FirmwareProfile || n.BIOS.Job != j.ID || !n.BIOS.Applied {
			return errorf(ErrConflict, "job %d: node %s does not run bios profile %s yet", j.ID, n.Name, j.FirmwareProfile)
		}
		return nil
	}
	if n.FirmwareProfile != j.FirmwareProfile {
		return errorf(ErrConflict, "job %d: node %s runs firmware profile %q, not %q", j.ID, n.Name, n.FirmwareProfile, j.FirmwareProfile)
	}
	return nil
}

// checkBIOSProfile is checkJobProfile for a bios profile: enough nodes
// must have a registered BMC to apply it through.
func (s *State) checkBIOSProfile(j *model.Job, p model.FirmwareProfile) error {
	can := 0
	for _, n := range s.Nodes {
		if n.BMC != nil && hasAll(n.Features, j.Features) {
			can++
		}
	}
	if can < j.NumNodes {
		return errorf(ErrInvalid, "%d nodes with bios profile %s requested, but only %d nodes have a registered BMC to apply and restore it through (`ibex nodes bmc set`)", j.NumNodes, p.Name, can)
	}
	return nil
}
