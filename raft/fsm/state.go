package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"

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
	// Requests maps "tenant/request id" to the job a submission created.
	Requests map[string]uint64 `json:"requests"`
	// Index is the raft index of the last applied entry.
	Index uint64 `json:"index"`

	idx indexes
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
	}
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
		nv := *v
		c.Nodes[n] = &nv
	}
	for n, v := range s.Tenants {
		tv := *v
		c.Tenants[n] = &tv
	}
	return c
}

// SortedNodes returns the nodes in name order.
func (s *State) SortedNodes() []*model.Node {
	out := make([]*model.Node, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
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
