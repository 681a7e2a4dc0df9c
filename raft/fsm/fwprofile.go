package fsm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Firmware profiles (model/fwprofile.go): the admin's catalog of approved
// firmware "tinkering", a job's choice of one, the agent's profile task
// before the job starts, and what the cleaning's firmware step must show
// before the node is clean again (the baseline, and nothing unapproved
// found on the way).

// AddFirmwareProfile approves a profile (names are immutable, like images).
type AddFirmwareProfile struct {
	Profile model.FirmwareProfile `json:"profile"`
	By      string                `json:"by"`
	Time    time.Time             `json:"time"`
}

// RemoveFirmwareProfile withdraws an approval. A profile a job still asks
// for, or a node still runs, cannot be removed.
type RemoveFirmwareProfile struct {
	Name string `json:"name"`
}

const (
	CmdAddFirmwareProfile    CommandType = 87
	CmdRemoveFirmwareProfile CommandType = 88
)

func (AddFirmwareProfile) Type() CommandType    { return CmdAddFirmwareProfile }
func (RemoveFirmwareProfile) Type() CommandType { return CmdRemoveFirmwareProfile }

func init() {
	registerE(CmdAddFirmwareProfile, (*State).addFirmwareProfile)
	registerE(CmdRemoveFirmwareProfile, (*State).removeFirmwareProfile)
}

// maxProfiles bounds the catalog: every profile is in every snapshot.
const maxProfiles = 256

// CheckAddFirmwareProfile is the state's verdict on approving p, which the
// API asks before proposing: a refused profile writes nothing to raft.
func (s *State) CheckAddFirmwareProfile(p model.FirmwareProfile) error {
	if err := p.Validate(); err != nil {
		return errorf(ErrInvalid, "%v", err)
	}
	if _, ok := s.FirmwareProfiles[p.Name]; ok {
		return errorf(ErrConflict, "firmware profile %s already exists (profiles are immutable: remove it, or add it under a new name)", p.Name)
	}
	if len(s.FirmwareProfiles) >= maxProfiles {
		return errorf(ErrInvalid, "%d firmware profiles already; remove some first", len(s.FirmwareProfiles))
	}
	return nil
}

func (s *State) addFirmwareProfile(c *AddFirmwareProfile) error {
	if err := s.CheckAddFirmwareProfile(c.Profile); err != nil {
		return err
	}
	p := c.Profile.Clone()
	p.ApprovedBy, p.ApprovedAt = actor(c.By), c.Time
	if s.FirmwareProfiles == nil {
		s.FirmwareProfiles = map[string]model.FirmwareProfile{}
	}
	s.FirmwareProfiles[p.Name] = p
	return nil
}

// CheckRemoveFirmwareProfile refuses to withdraw a profile in use.
func (s *State) CheckRemoveFirmwareProfile(name string) error {
	if _, ok := s.FirmwareProfiles[name]; !ok {
		return errorf(ErrNotFound, "firmware profile %q (see `ibex firmware profile list`)", name)
	}
	for _, j := range s.Jobs {
		if j.FirmwareProfile == name && !j.State.Terminal() {
			return errorf(ErrConflict, "firmware profile %s: job %d (%s) asks for it; remove it when no job does", name, j.ID, j.State)
		}
	}
	for _, n := range s.SortedNodes() {
		if n.FirmwareProfile == name {
			return errorf(ErrConflict, "firmware profile %s: node %s still runs it (its cleaning restores the baseline)", name, n.Name)
		}
	}
	return nil
}

func (s *State) removeFirmwareProfile(c *RemoveFirmwareProfile) error {
	if err := s.CheckRemoveFirmwareProfile(c.Name); err != nil {
		return err
	}
	delete(s.FirmwareProfiles, c.Name)
	return nil
}

// checkJobProfile refuses a job whose firmware profile is not approved, is
// of a kind ibex does not apply yet, or that fewer nodes than it needs
// could run (only a node agent applies and restores a profile).
func (s *State) checkJobProfile(j *model.Job) error {
	if j.FirmwareProfile == "" {
		return nil
	}
	p, ok := s.FirmwareProfiles[j.FirmwareProfile]
	if !ok {
		return errorf(ErrNotFound, "firmware profile %q is not approved (see `ibex firmware profile list`; an admin approves profiles)", j.FirmwareProfile)
	}
	if p.Kind == model.ProfileBIOS {
		return s.checkBIOSProfile(j, p) // biosprofile.go
	}
	can := 0
	for _, n := range s.Nodes {
		if n.Agent != nil && !n.Agent.Revoked && hasAll(n.Features, j.Features) {
			can++
		}
	}
	if can < j.NumNodes {
		return errorf(ErrInvalid, "%d nodes with firmware profile %s requested, but only %d nodes have an agent to apply and restore it", j.NumNodes, p.Name, can)
	}
	return nil
}

// profileTask reports whether t is the firmware-profile task of n's job:
// it runs while the node is allocated to a scheduled job asking for it.
func (s *State) profileTask(n *model.Node, t model.NodeTask) error {
	j, ok := s.Jobs[n.JobID]
	switch {
	case n.State != model.NodeAllocated || !ok || n.JobID == 0:
		return errorf(ErrConflict, "node %s holds no job to apply firmware profile %s for", n.Name, t.Profile)
	case j.State != model.JobScheduled:
		return errorf(ErrConflict, "node %s: job %d is %s; a profile is applied before the job starts", n.Name, j.ID, j.State)
	case j.FirmwareProfile == "" || j.FirmwareProfile != t.Profile:
		return errorf(ErrConflict, "node %s: job %d asks for firmware profile %q, not %q", n.Name, j.ID, j.FirmwareProfile, t.Profile)
	case n.Agent == nil:
		return errorf(ErrConflict, "node %s has no agent to apply firmware profile %s", n.Name, t.Profile)
	case n.Task != nil:
		return errorf(ErrConflict, "node %s is running task %s", n.Name, n.Task.ID)
	}
	if _, ok := s.FirmwareProfiles[t.Profile]; !ok {
		return errorf(ErrNotFound, "firmware profile %q is not approved", t.Profile)
	}
	if t.Challenge == nil || len(t.Challenge.Pins) == 0 {
		return errorf(ErrInvalid, "firmware profile task %s: the challenge must name the versions to verify", t.ID)
	}
	return nil
}

// judgeFirmware adds the firmware steps' own checks to the challenge's:
// the readings as found must be what ibex last left (else the firmware was
// changed behind its back), and a verified step records what it leaves.
// unapproved is set when the node must be quarantined for it.
func (s *State) judgeFirmware(n *model.Node, t model.NodeTask, a model.Answer) (verdict string, unapproved string, err error) {
	verdict, err = model.CheckFirmware(*t.Challenge, a)
	if t.Challenge.Before {
		var before []model.FirmwareDevice
		if a.Firmware != nil {
			before = a.Firmware.Before
		}
		if uerr := model.CheckUnapproved(before, n.FirmwareSeen); uerr != nil {
			return "", uerr.Error(), nil
		}
		if n.FirmwareSeen != nil {
			verdict += fmt.Sprintf("; found as ibex left it (%s)", seenLabel(n.FirmwareSeen))
		}
	}
	return verdict, "", err
}

// firmwareVerified records what a verified firmware step left on n.
func firmwareVerified(n *model.Node, t model.NodeTask, a model.Answer) {
	if a.Firmware == nil || t.Challenge == nil || len(t.Challenge.Pins) == 0 {
		return
	}
	profile := ""
	if t.Kind == model.TaskFirmwareProfile {
		profile = t.Profile
	}
	n.FirmwareProfile = profile
	n.FirmwareSeen = model.SeenFrom(profile, a.Firmware.Devices)
}

func seenLabel(f *model.FirmwareSeen) string {
	var parts []string
	for _, psid := range sortedStrings(f.Versions) {
		parts = append(parts, psid+" "+f.Versions[psid])
	}
	what := "baseline"
	if f.Profile != "" {
		what = "profile " + f.Profile
	}
	return what + ": " + strings.Join(parts, ", ")
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
