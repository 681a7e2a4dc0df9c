package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/fabric/placement"
	"github.com/ibex-hpc/ibex/model"
)

// State is the whole replicated state. It is owned by the FSM; readers get
// deep copies through FSM.View.
type State struct {
	NextJobID uint64                   `json:"next_job_id"`
	Jobs      map[uint64]*model.Job    `json:"jobs"`
	Nodes     map[string]*model.Node   `json:"nodes"`
	Tenants   map[string]*model.Tenant `json:"tenants"`
	Servers   map[string]*model.Server `json:"servers"`
	// PKeyReleased is when each partition key was last released; a key is
	// reused only after a cool-down (see Allocate).
	PKeyReleased map[uint16]time.Time `json:"pkey_released"`
	// Secrets, JoinTokens (by token digest), Revoked (certificate serials),
	// Images (by name:version) and Ledger (per node) belong to the fleet
	// of node agents.
	Secrets    model.ClusterSecrets           `json:"secrets"`
	JoinTokens map[string]JoinToken           `json:"join_tokens"`
	Revoked    map[string]string              `json:"revoked"`
	Images     map[string]model.Image         `json:"images"`
	Ledger     map[string][]model.LedgerEntry `json:"ledger"`
	// Topology is the imported fabric, if any (else the configured
	// simulated fat tree describes the nodes).
	Topology Topology `json:"topology"`
	// Requests maps "tenant/request id" to the job a submission created.
	Requests map[string]uint64 `json:"requests"`
	Expiry   Expiry            `json:"expiry,omitzero"` // what retention removed (retention.go)
	// HandoutChecks is set by the first hand-out check: from then on an
	// agent node is allocated only after passing one (handout.go).
	HandoutChecks bool `json:"handout_checks,omitempty"`
	// FirmwareProfiles are the admin-approved firmware profiles, by name
	// (fwprofile.go); nil until the first.
	FirmwareProfiles map[string]model.FirmwareProfile `json:"firmware_profiles,omitempty"`
	// Index is the raft index of the last applied entry.
	Index uint64 `json:"index"`

	idx       indexes
	topoIdx   *placement.Fabric // Topology.Hosts by port GUID (placement.go)
	topoInfra map[string]string // Topology.Infra by host (infra.go)
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		NextJobID: 1,
		Jobs:      map[uint64]*model.Job{},
		Nodes:     map[string]*model.Node{},
		Tenants:   map[string]*model.Tenant{},
		Servers:   map[string]*model.Server{},
		Requests:  map[string]uint64{},

		PKeyReleased: map[uint16]time.Time{},
		JoinTokens:   map[string]JoinToken{},
		Revoked:      map[string]string{},
		Images:       map[string]model.Image{},
		Ledger:       map[string][]model.LedgerEntry{},
	}
}

// Topology is an imported ibnetdiscover dump and its name map. Hosts are
// its hosts with their leaf and port GUIDs, which real machines' nodes are
// matched against (placement.go).
type Topology struct {
	Text    string           `json:"text,omitempty"`
	NameMap string           `json:"name_map,omitempty"`
	Hosts   []placement.Host `json:"hosts,omitempty"`
	Infra   []InfraHost      `json:"infra,omitempty"`
}

// JoinToken lets one node enroll its agent once, before Expires. Register
// lets the enrollment create the node (real machines, placement.go).
type JoinToken struct {
	Node     string    `json:"node"`
	Expires  time.Time `json:"expires"`
	Register bool      `json:"register,omitempty"`
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{
		NextJobID: s.NextJobID,
		Index:     s.Index,
		Jobs:      make(map[uint64]*model.Job, len(s.Jobs)),
		Nodes:     make(map[string]*model.Node, len(s.Nodes)),
		Tenants:   make(map[string]*model.Tenant, len(s.Tenants)),
		Servers:   make(map[string]*model.Server, len(s.Servers)),
		Requests:  make(map[string]uint64, len(s.Requests)),

		PKeyReleased: make(map[uint16]time.Time, len(s.PKeyReleased)),
		JoinTokens:   make(map[string]JoinToken, len(s.JoinTokens)),
		Revoked:      make(map[string]string, len(s.Revoked)),
		Images:       make(map[string]model.Image, len(s.Images)),
		Ledger:       make(map[string][]model.LedgerEntry, len(s.Ledger)),
	}
	for k, v := range s.PKeyReleased {
		c.PKeyReleased[k] = v
	}
	for k, v := range s.Servers {
		sv := *v
		c.Servers[k] = &sv
	}
	for k, v := range s.Requests {
		c.Requests[k] = v
	}
	for id, j := range s.Jobs {
		c.Jobs[id] = j.Clone()
	}
	c.idx = s.cloneIndexes()
	for n, v := range s.Nodes {
		c.Nodes[n] = v.Clone()
	}
	c.orderFrom(s) // nodeorder.go
	c.Secrets = s.Secrets
	c.Topology = s.Topology // Hosts is never modified in place
	c.topoIdx = s.topoIdx
	c.topoInfra = s.topoInfra
	c.Expiry = s.Expiry
	c.HandoutChecks = s.HandoutChecks
	for k, v := range s.JoinTokens {
		c.JoinTokens[k] = v
	}
	for k, v := range s.Revoked {
		c.Revoked[k] = v
	}
	for k, v := range s.Images {
		c.Images[k] = v
	}
	if s.FirmwareProfiles != nil {
		c.FirmwareProfiles = make(map[string]model.FirmwareProfile, len(s.FirmwareProfiles))
		for k, v := range s.FirmwareProfiles {
			c.FirmwareProfiles[k] = v.Clone()
		}
	}
	for k, v := range s.Ledger {
		c.Ledger[k] = append([]model.LedgerEntry(nil), v...)
	}
	for n, v := range s.Tenants {
		tv := *v
		c.Tenants[n] = &tv
	}
	return c
}

// SortedNodes returns the nodes in name order.
func (s *State) SortedNodes() []*model.Node {
	return slices.Clone(s.nodesInOrder()) // nodeorder.go
}

// SortedJobs returns the jobs in id (submission) order.
func (s *State) SortedJobs() []*model.Job {
	out := make([]*model.Job, 0, len(s.Jobs))
	for _, j := range s.Jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// TenantByTokenHash finds the tenant whose token digest is h.
func (s *State) TenantByTokenHash(h string) *model.Tenant {
	for _, t := range s.Tenants {
		if t.TokenHash == h {
			return t
		}
	}
	return nil
}

// Hash is a digest of the state without the raft index, so servers that
// applied the same commands report the same hash. encoding/json sorts map
// keys, which makes the encoding canonical.
func (s *State) Hash() string {
	c := *s
	c.Index = 0
	b, err := json.Marshal(&c)
	if err != nil {
		panic("fsm: state does not encode: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
