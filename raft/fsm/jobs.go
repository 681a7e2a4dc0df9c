package fsm

import (
	"slices"
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/pipeline"
)

// Commands of a job's life: submission, the scheduler's plan, start, and
// the ways a job ends. Partition keys are in partitions.go.

// SubmitJob queues a job. The FSM assigns the id.
type SubmitJob struct {
	Job  model.Job `json:"job"`
	Time time.Time `json:"time"`
}

// Allocate is a scheduler plan for one job. The FSM re-validates it against
// the current state, so a plan made from a stale view can never put a node
// into two jobs.
type Allocate struct {
	JobID uint64   `json:"job_id"`
	Nodes []string `json:"nodes"`
	// PKey, when not 0, is the job's partition key: it must be free, and
	// released at least PKeyCooldown before Time.
	PKey         uint16        `json:"pkey,omitempty"`
	PKeyCooldown time.Duration `json:"pkey_cooldown,omitempty"`
	// PKeyShared lets the job share the key of the same tenant's live
	// allocations (one partition per tenant instead of per allocation).
	PKeyShared bool      `json:"pkey_shared,omitempty"`
	Time       time.Time `json:"time"`
	// Links are the uplinks a link-isolated job holds (links.go).
	Links []string `json:"links,omitempty"`
}

// StartJob records that every node of a scheduled job runs its process (or,
// for an allocation, that it was handed over).
type StartJob struct {
	JobID uint64    `json:"job_id"`
	Time  time.Time `json:"time"`
}

// FinishJob records a job's end; its nodes go to cleaning.
type FinishJob struct {
	JobID    uint64         `json:"job_id"`
	State    model.JobState `json:"state"`
	ExitCode *int           `json:"exit_code,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	// RequestID identifies a client's release; see model.Job.EndRequestID.
	RequestID string    `json:"request_id,omitempty"`
	Time      time.Time `json:"time"`
	// Usage, when the nodes measured it (model.Job.Usage).
	Usage *model.JobUsage `json:"usage,omitempty"`
}

// CancelJob ends a job on behalf of a tenant (or an admin).
type CancelJob struct {
	JobID  uint64 `json:"job_id"`
	By     string `json:"by"`
	Admin  bool   `json:"admin,omitempty"`
	Reason string `json:"reason,omitempty"`
	// RequestID identifies the client's call; see model.Job.EndRequestID.
	RequestID string    `json:"request_id,omitempty"`
	Time      time.Time `json:"time"`
}

// CheckSubmit is the state's verdict on a new job: it names a tenant, asks
// for nodes the cluster has (with its features), and is a batch job or an
// allocation. The API calls it under Read before it proposes, so a request
// that can never run is refused without a raft entry; SubmitJob calls it
// again, since the state may have changed in between.
func (s *State) CheckSubmit(j *model.Job) error {
	if _, ok := s.Tenants[j.Tenant]; !ok {
		return errorf(ErrInvalid, "unknown tenant %q", j.Tenant)
	}
	if j.NumNodes <= 0 {
		return errorf(ErrInvalid, "node count must be positive, got %d", j.NumNodes)
	}
	if !s.clusterHas(j.NumNodes) {
		return errorf(ErrInvalid, "%d nodes requested but the cluster has %d", j.NumNodes, s.ClusterSize())
	}
	batch := (j.Script != "") != (len(j.Argv) > 0)
	if j.Interactive == batch || (j.Script != "" && len(j.Argv) > 0) {
		return errorf(ErrInvalid, "a batch job needs exactly one of a script or a command; an allocation neither")
	}
	if j.TimeLimit <= 0 {
		return errorf(ErrInvalid, "time limit must be positive")
	}
	if err := checkIsolation(j); err != nil {
		return err
	}
	if err := s.checkJobImage(j); err != nil { // provision.go
		return err
	}
	if err := s.checkPipeline(j); err != nil { // pipeline.go
		return err
	}
	if err := s.checkJobProfile(j); err != nil { // fwprofile.go
		return err
	}
	if len(j.Features) > 0 {
		have := 0
		for _, n := range s.Nodes {
			if hasAll(n.Features, j.Features) {
				if have++; have == j.NumNodes {
					break // enough; a refusal has counted them all
				}
			}
		}
		if have < j.NumNodes {
			return errorf(ErrInvalid, "%d nodes with features %v requested, the cluster has %d", j.NumNodes, j.Features, have)
		}
	}
	return nil
}

// PendingReasons records why pending jobs wait, as the last scheduling
// pass saw it (scheduler.Plan.Reasons). Only changed reasons are sent;
// a job that is no longer pending is skipped.
type PendingReasons struct {
	Reasons map[uint64]string `json:"reasons"`
}

func (PendingReasons) Type() CommandType { return CmdPendingReasons }

// maxPendingReason bounds a reason: they are short codes ("Resources").
const maxPendingReason = 64

func (s *State) pendingReasons(c *PendingReasons) error {
	for id, r := range c.Reasons {
		if len(r) > maxPendingReason {
			return errorf(ErrInvalid, "pending reason for job %d is %d bytes, the limit is %d", id, len(r), maxPendingReason)
		}
	}
	for id, r := range c.Reasons {
		if j, ok := s.Jobs[id]; ok && j.State == model.JobPending {
			j.Reason = r
		}
	}
	return nil
}

func (SubmitJob) Type() CommandType { return CmdSubmitJob }
func (Allocate) Type() CommandType  { return CmdAllocate }
func (StartJob) Type() CommandType  { return CmdStartJob }
func (FinishJob) Type() CommandType { return CmdFinishJob }
func (CancelJob) Type() CommandType { return CmdCancelJob }

func init() {
	register(CmdSubmitJob, func(s *State, c *SubmitJob) (any, error) { return s.submitJob(c) })
	registerE(CmdAllocate, (*State).allocate)
	registerE(CmdStartJob, (*State).startJob)
	registerE(CmdPendingReasons, (*State).pendingReasons)
	registerE(CmdFinishJob, (*State).finishJob)
	register(CmdCancelJob, func(s *State, c *CancelJob) (any, error) { return s.cancelJob(c) })
}

func (s *State) submitJob(c *SubmitJob) (uint64, error) {
	j := c.Job.Clone()
	reqKey := j.Tenant + "/" + j.RequestID
	if j.RequestID != "" {
		if id, ok := s.Requests[reqKey]; ok {
			return id, nil // a retry of a submission that already committed
		}
	}
	if err := s.CheckSubmit(j); err != nil {
		return 0, err
	}
	j.ID = s.NextJobID
	s.NextJobID++
	j.State = model.JobPending
	j.SubmitTime = c.Time
	j.Nodes, j.ExitCode, j.Reason, j.Links = nil, nil, "", nil
	if j.Held {
		// Its reason is known at submit, and nothing but a release
		// changes it: recorded here, it spares every held submission a
		// second raft entry (the pass's PendingReasons).
		j.Reason = pipeline.ReasonHeld
	}
	s.submitPipeline(j) // pipeline.go
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
	if err := s.allocatable(j, c.Time); err != nil { // pipeline.go
		return err
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
		if n.Infra != "" && len(j.Features) == 0 {
			return errorf(ErrConflict, "node %s is infrastructure (%s): only jobs asking for its labels may use it", name, n.Infra)
		}
		if err := s.handoutOK(n, c.Time); err != nil {
			return errorf(ErrConflict, "%v", err)
		}
	}
	if c.PKey != 0 {
		if err := s.checkPKey(c, j.Tenant); err != nil {
			return err
		}
	}
	if err := s.checkLinks(j, c.Nodes, c.Links); err != nil {
		return err
	}
	if j.ArrayRecord() && len(j.ArrayPending) > 0 {
		j = s.splitTask(j, j.ArrayPending.Min()) // pipeline.go
	}
	nodes := append([]string(nil), c.Nodes...)
	sort.Strings(nodes)
	for _, name := range nodes {
		n := s.Nodes[name]
		n.State, n.JobID, n.StateSince = model.NodeAllocated, j.ID, c.Time
		n.Handout = nil // consumed: the next tenancy needs a check of its own
	}
	j.Nodes = nodes
	j.Links = sortedLinks(c.Links)
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
	for _, name := range j.Nodes {
		if n, ok := s.Nodes[name]; ok && !n.Deployed(j.ID) {
			return errorf(ErrConflict, "job %d: node %s is not deployed yet (%s)", j.ID, name, n.ProvisionState())
		} else if ok && j.Image != "" && n.Image != j.Image {
			return errorf(ErrConflict, "job %d: node %s holds image %q, not %s", j.ID, name, n.Image, j.Image)
		} else if ok {
			if err := s.nodeRunsProfile(n, j); err != nil { // biosprofile.go
				return err
			}
		}
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
	if u := c.Usage; u != nil && (u.CPUSeconds < 0 || u.OutputBytes < 0) {
		return errorf(ErrInvalid, "finish job %d: negative usage %+v", j.ID, *u)
	}
	s.endJob(j, c.State, c.ExitCode, c.Reason, c.Time)
	if c.Usage != nil {
		u := *c.Usage
		j.Usage = &u
	}
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
			abortDeployment(n, j.ID, t) // provision.go
			beginCleaning(n, j.EndTime)
			n.JobID, n.LastJobID, n.LastPKey = 0, j.ID, j.PKey
		}
	}
	if j.PKey != 0 && j.Nodes != nil {
		s.PKeyReleased[j.PKey] = t
	}
	s.noteJob(j)
	s.noteArrayEnd(j) // pipeline.go
}

func (s *State) cancelJob(c *CancelJob) (model.JobState, error) {
	j, ok := s.Jobs[c.JobID]
	if !ok || (!c.Admin && j.Tenant != c.By) {
		// Another tenant's job is reported as missing: ids are not secrets,
		// but its existence is none of the caller's business.
		return "", errorf(ErrNotFound, "job %d", c.JobID)
	}
	if j.ArrayRecord() { // the whole array (pipeline.go)
		return s.cancelWholeArray(j, c)
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

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
