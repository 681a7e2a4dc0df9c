package fsm

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// apply dispatches one command. Every handler validates before it mutates, so
// a rejected command leaves the state untouched.
func (s *State) apply(c Command) (any, error) {
	if v, err, ok := s.applyFleet(c); ok {
		return v, err
	}
	switch c := c.(type) {
	case *RegisterNodes:
		return nil, s.registerNodes(c)
	case *CreateTenant:
		return nil, s.createTenant(c)
	case *SubmitJob:
		return s.submitJob(c)
	case *Allocate:
		return nil, s.allocate(c)
	case *StartJob:
		return nil, s.startJob(c)
	case *FinishJob:
		return nil, s.finishJob(c)
	case *CancelJob:
		return s.cancelJob(c)
	case *DrainNode:
		return nil, s.drainNode(c)
	case *UndrainNode:
		return nil, s.undrainNode(c)
	case *NodeCleaned:
		return nil, s.nodeCleaned(c)
	case *RegisterServer:
		if c.Server.ID == "" || c.Server.APIAddr == "" {
			return nil, errorf(ErrInvalid, "server needs an id and an API address")
		}
		sv := c.Server
		s.Servers[sv.ID] = &sv
		return nil, nil
	case *DeregisterServer:
		delete(s.Servers, c.ID)
		return nil, nil
	case *PartitionReady:
		return nil, s.partitionReady(c)
	case *ExpireRecords:
		return s.expireRecords(c)
	}
	return nil, fmt.Errorf("fsm: no handler for %T", c)
}

func (s *State) registerNodes(c *RegisterNodes) error {
	seen := map[string]bool{}
	for _, n := range c.Nodes {
		if n.Name == "" || seen[n.Name] {
			return errorf(ErrInvalid, "node name %q empty or repeated", n.Name)
		}
		seen[n.Name] = true
	}
	for _, n := range c.Nodes {
		if old, ok := s.Nodes[n.Name]; ok {
			old.Leaf = n.Leaf
			continue
		}
		s.Nodes[n.Name] = &model.Node{Name: n.Name, Leaf: n.Leaf, State: model.NodeReady, StateSince: c.Time}
	}
	return nil
}

func (s *State) createTenant(c *CreateTenant) error {
	t := c.Tenant
	if t.Name == "" || t.TokenHash == "" {
		return errorf(ErrInvalid, "tenant needs a name and a token")
	}
	if _, ok := s.Tenants[t.Name]; ok {
		return errorf(ErrConflict, "tenant %q already exists", t.Name)
	}
	if s.TenantByTokenHash(t.TokenHash) != nil {
		return errorf(ErrConflict, "token already in use")
	}
	s.Tenants[t.Name] = &t
	return nil
}

func (s *State) submitJob(c *SubmitJob) (uint64, error) {
	j := c.Job.Clone()
	reqKey := j.Tenant + "/" + j.RequestID
	if j.RequestID != "" {
		if id, ok := s.Requests[reqKey]; ok {
			return id, nil // a retry of a submission that already committed
		}
	}
	if _, ok := s.Tenants[j.Tenant]; !ok {
		return 0, errorf(ErrInvalid, "unknown tenant %q", j.Tenant)
	}
	if j.NumNodes <= 0 {
		return 0, errorf(ErrInvalid, "node count must be positive, got %d", j.NumNodes)
	}
	if j.NumNodes > len(s.Nodes) {
		return 0, errorf(ErrInvalid, "%d nodes requested but the cluster has %d", j.NumNodes, len(s.Nodes))
	}
	batch := (j.Script != "") != (len(j.Argv) > 0)
	if j.Interactive == batch || (j.Script != "" && len(j.Argv) > 0) {
		return 0, errorf(ErrInvalid, "a batch job needs exactly one of a script or a command; an allocation neither")
	}
	if j.TimeLimit <= 0 {
		return 0, errorf(ErrInvalid, "time limit must be positive")
	}
	if len(j.Features) > 0 {
		have := 0
		for _, n := range s.Nodes {
			if hasAll(n.Features, j.Features) {
				have++
			}
		}
		if have < j.NumNodes {
			return 0, errorf(ErrInvalid, "%d nodes with features %v requested, the cluster has %d", j.NumNodes, j.Features, have)
		}
	}
	j.ID = s.NextJobID
	s.NextJobID++
	j.State = model.JobPending
	j.SubmitTime = c.Time
	j.Nodes, j.ExitCode, j.Reason = nil, nil, ""
	s.Jobs[j.ID] = j
	s.idx.pendingQ = append(s.idx.pendingQ, j.ID)
	if j.RequestID != "" {
		s.Requests[reqKey] = j.ID
	}
	return j.ID, nil
}

func (s *State) allocate(c *Allocate) error {
	j, ok := s.Jobs[c.JobID]
	if !ok {
		return errorf(ErrNotFound, "job %d", c.JobID)
	}
	if j.State != model.JobPending {
		return errorf(ErrConflict, "job %d is %s, not pending", j.ID, j.State)
	}
	if len(c.Nodes) != j.NumNodes {
		return errorf(ErrInvalid, "job %d wants %d nodes, plan has %d", j.ID, j.NumNodes, len(c.Nodes))
	}
	seen := map[string]bool{}
	for _, name := range c.Nodes {
		n, ok := s.Nodes[name]
		if !ok {
			return errorf(ErrNotFound, "node %q", name)
		}
		if !hasAll(n.Features, j.Features) {
			return errorf(ErrConflict, "node %s lacks features %v", name, j.Features)
		}
		if seen[name] {
			return errorf(ErrInvalid, "node %q twice in plan", name)
		}
		seen[name] = true
		if !n.Schedulable() {
			return errorf(ErrConflict, "node %s is %s", name, n.DisplayState())
		}
	}
	if c.PKey != 0 {
		if err := s.checkPKey(c, j.Tenant); err != nil {
			return err
		}
	}
	nodes := append([]string(nil), c.Nodes...)
	sort.Strings(nodes)
	for _, name := range nodes {
		n := s.Nodes[name]
		n.State, n.JobID, n.StateSince = model.NodeAllocated, j.ID, c.Time
	}
	j.Nodes = nodes
	j.PKey = c.PKey
	j.State = model.JobScheduled
	s.noteJob(j)
	return nil
}

func (s *State) startJob(c *StartJob) error {
	j, ok := s.Jobs[c.JobID]
	if !ok {
		return errorf(ErrNotFound, "job %d", c.JobID)
	}
	if j.State != model.JobScheduled {
		return errorf(ErrConflict, "job %d is %s, not scheduled", j.ID, j.State)
	}
	j.State = model.JobRunning
	j.StartTime = c.Time
	return nil
}

func (s *State) finishJob(c *FinishJob) error {
	j, ok := s.Jobs[c.JobID]
	if !ok {
		return errorf(ErrNotFound, "job %d", c.JobID)
	}
	if !c.State.Terminal() {
		return errorf(ErrInvalid, "finish job %d with non-final state %q", j.ID, c.State)
	}
	if j.State.Terminal() {
		if c.RequestID != "" && j.EndRequestID == c.RequestID {
			return nil // the retry of the call that ended it
		}
		return errorf(ErrConflict, "job %d already %s", j.ID, j.State)
	}
	s.endJob(j, c.State, c.ExitCode, c.Reason, c.Time)
	j.EndRequestID = c.RequestID
	return nil
}

// endJob moves a job to a final state and its nodes to cleaning.
func (s *State) endJob(j *model.Job, st model.JobState, exit *int, reason string, t time.Time) {
	j.State = st
	if exit != nil {
		e := *exit
		j.ExitCode = &e
	}
	j.Reason = reason
	j.EndTime = t
	for _, name := range j.Nodes {
		if n, ok := s.Nodes[name]; ok && n.JobID == j.ID {
			n.State, n.JobID, n.LastJobID, n.StateSince = model.NodeCleaning, 0, j.ID, j.EndTime
			n.LastPKey, n.Cleaning = j.PKey, nil
		}
	}
	if j.PKey != 0 && j.Nodes != nil {
		s.PKeyReleased[j.PKey] = t
	}
	s.noteJob(j)
}

func (s *State) cancelJob(c *CancelJob) (model.JobState, error) {
	j, ok := s.Jobs[c.JobID]
	if !ok || (!c.Admin && j.Tenant != c.By) {
		// Another tenant's job is reported as missing: ids are not secrets,
		// but its existence is none of the caller's business.
		return "", errorf(ErrNotFound, "job %d", c.JobID)
	}
	if j.State.Terminal() {
		if c.RequestID != "" && j.EndRequestID == c.RequestID {
			return j.State, nil // the retry of the call that ended it
		}
		return j.State, errorf(ErrConflict, "job %d already %s", j.ID, j.State)
	}
	reason := c.Reason
	if reason == "" {
		reason = "cancelled by " + c.By
	}
	s.endJob(j, model.JobCancelled, nil, reason, c.Time)
	j.EndRequestID = c.RequestID
	return j.State, nil
}

func (s *State) drainNode(c *DrainNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if c.Reason == "" {
		return errorf(ErrInvalid, "drain needs a reason")
	}
	n.Drained, n.DrainNote, n.DrainBy, n.DrainTime = true, c.Reason, c.By, c.Time
	return nil
}

func (s *State) undrainNode(c *UndrainNode) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State == model.NodeQuarantined {
		// An operator looked: the node is cleaned again before use.
		n.State, n.Reason, n.StateSince, n.Cleaning = model.NodeCleaning, "", c.Time, nil
		n.Drained, n.DrainNote, n.DrainBy = false, "", ""
		return nil
	}
	if !n.Drained {
		return errorf(ErrConflict, "node %s is not drained", c.Node)
	}
	n.Drained, n.DrainNote, n.DrainBy = false, "", ""
	n.DrainTime = time.Time{}
	return nil
}

func (s *State) nodeCleaned(c *NodeCleaned) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	if n.State != model.NodeCleaning {
		return errorf(ErrConflict, "node %s is %s, not cleaning", c.Node, n.State)
	}
	if c.JobID != n.LastJobID {
		return errorf(ErrConflict, "node %s: cleaning record is for job %d, last job was %d", c.Node, c.JobID, n.LastJobID)
	}
	if c.Evidence == "" {
		return errorf(ErrInvalid, "node %s: a cleaning record needs evidence", c.Node)
	}
	if n.Agent != nil {
		for _, step := range RequiredCleaning {
			if !slices.Contains(n.Cleaning, step) {
				return errorf(ErrConflict, "node %s: cleaning has no %s record", c.Node, step)
			}
		}
	}
	if n.Task != nil {
		return errorf(ErrConflict, "node %s: task %s still running", c.Node, n.Task.ID)
	}
	if c.Image != "" && n.Image != c.Image {
		return errorf(ErrConflict, "node %s holds image %q, not %q", c.Node, n.Image, c.Image)
	}
	n.State, n.StateSince, n.Cleaning = model.NodeReady, c.Time, nil
	s.ledger(n, model.LedgerEntry{Time: c.Time, Step: "cleaned", Actor: "ibexd", OK: true, Evidence: c.Evidence, JobID: c.JobID})
	return nil
}

// checkPKey enforces the partition invariants of a plan: a valid 15-bit key,
// held by no live job, and cooled down since its last release.
func (s *State) checkPKey(c *Allocate, tenant string) error {
	if c.PKey >= 0x7fff {
		return errorf(ErrInvalid, "partition key %#04x is outside 0x0001..0x7ffe", c.PKey)
	}
	shared := false
	for id := range s.idx.active {
		j := s.Jobs[id]
		if j.PKey != c.PKey {
			continue
		}
		if !c.PKeyShared || j.Tenant != tenant {
			// Never another tenant's key; never a held key unless sharing.
			return errorf(ErrConflict, "partition key %#04x is held by job %d", c.PKey, id)
		}
		shared = true
	}
	if shared {
		return nil // the tenant's live key: no cool-down applies
	}
	if at, ok := s.PKeyReleased[c.PKey]; ok && c.Time.Sub(at) < c.PKeyCooldown {
		return errorf(ErrConflict, "partition key %#04x was released at %s and is cooling down", c.PKey, at.Format(time.RFC3339))
	}
	return nil
}

func (s *State) partitionReady(c *PartitionReady) error {
	j, ok := s.Jobs[c.JobID]
	if !ok {
		return errorf(ErrNotFound, "job %d", c.JobID)
	}
	if !j.State.Active() || j.PKey != c.PKey {
		return errorf(ErrConflict, "job %d is %s with key %#04x", j.ID, j.State, j.PKey)
	}
	j.PartitionReady = true
	return nil
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
