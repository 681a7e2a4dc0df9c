// Package fsm is ibex's replicated state machine: typed commands applied to an
// in-memory state store. Apply is deterministic and does no I/O and reads no
// clock: every time it needs arrives inside the command, stamped by the
// leader. The package does not import hashicorp/raft; raft/cluster adapts it.
package fsm

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// CommandType is the first byte of every raft log entry.
type CommandType uint8

const (
	CmdRegisterNodes CommandType = iota + 1
	CmdCreateTenant
	CmdSubmitJob
	CmdAllocate
	CmdStartJob
	CmdFinishJob
	CmdCancelJob
	CmdDrainNode
	CmdUndrainNode
	CmdNodeCleaned
	CmdRegisterServer
	CmdDeregisterServer
	CmdPartitionReady
)

// Command is a typed state change. Each concrete command names its type.
type Command interface{ Type() CommandType }

// RegisterNodes adds nodes that are not yet known (known ones are left as
// they are, so re-registering on every start is harmless).
type RegisterNodes struct {
	Nodes []NodeSpec `json:"nodes"`
	Time  time.Time  `json:"time"`
}

// NodeSpec is what the state needs to know about a new node.
type NodeSpec struct {
	Name string `json:"name"`
	Leaf string `json:"leaf"`
}

// CreateTenant adds a tenant with the digest of its bearer token.
type CreateTenant struct {
	Tenant model.Tenant `json:"tenant"`
}

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
}

// PartitionReady records that the fabric carries the job's partition key
// on every port of its nodes.
type PartitionReady struct {
	JobID uint64    `json:"job_id"`
	PKey  uint16    `json:"pkey"`
	Time  time.Time `json:"time"`
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

// DrainNode stops scheduling on a node; a busy node finishes its job first.
type DrainNode struct {
	Node   string    `json:"node"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
}

// UndrainNode returns a drained node to scheduling.
type UndrainNode struct {
	Node string    `json:"node"`
	Time time.Time `json:"time"`
}

// NodeCleaned records a completed hygiene pass: the node becomes ready.
type NodeCleaned struct {
	Node string `json:"node"`
	// Image, when set, must be the verified image on the node's disk.
	Image    string    `json:"image,omitempty"`
	JobID    uint64    `json:"job_id"`
	Evidence string    `json:"evidence"`
	Time     time.Time `json:"time"`
}

// RegisterServer records a server's addresses (idempotent; the latest wins).
type RegisterServer struct {
	Server model.Server `json:"server"`
}

// DeregisterServer forgets a removed server.
type DeregisterServer struct {
	ID string `json:"id"`
}

func (RegisterServer) Type() CommandType   { return CmdRegisterServer }
func (PartitionReady) Type() CommandType   { return CmdPartitionReady }
func (DeregisterServer) Type() CommandType { return CmdDeregisterServer }
func (RegisterNodes) Type() CommandType    { return CmdRegisterNodes }
func (CreateTenant) Type() CommandType     { return CmdCreateTenant }
func (SubmitJob) Type() CommandType        { return CmdSubmitJob }
func (Allocate) Type() CommandType         { return CmdAllocate }
func (StartJob) Type() CommandType         { return CmdStartJob }
func (FinishJob) Type() CommandType        { return CmdFinishJob }
func (CancelJob) Type() CommandType        { return CmdCancelJob }
func (DrainNode) Type() CommandType        { return CmdDrainNode }
func (UndrainNode) Type() CommandType      { return CmdUndrainNode }
func (NodeCleaned) Type() CommandType      { return CmdNodeCleaned }

// Encode turns a command into a log entry: one type byte, then JSON.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", c.Type(), err)
	}
	return append([]byte{byte(c.Type())}, body...), nil
}

// Decode is the inverse of Encode.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode command: empty entry")
	}
	var c Command
	switch CommandType(b[0]) {
	case CmdRegisterNodes:
		c = &RegisterNodes{}
	case CmdCreateTenant:
		c = &CreateTenant{}
	case CmdSubmitJob:
		c = &SubmitJob{}
	case CmdAllocate:
		c = &Allocate{}
	case CmdStartJob:
		c = &StartJob{}
	case CmdFinishJob:
		c = &FinishJob{}
	case CmdCancelJob:
		c = &CancelJob{}
	case CmdDrainNode:
		c = &DrainNode{}
	case CmdUndrainNode:
		c = &UndrainNode{}
	case CmdNodeCleaned:
		c = &NodeCleaned{}
	case CmdRegisterServer:
		c = &RegisterServer{}
	case CmdDeregisterServer:
		c = &DeregisterServer{}
	case CmdPartitionReady:
		c = &PartitionReady{}
	case CmdExpireRecords:
		c = &ExpireRecords{}
	default:
		if c = decodeFleet(CommandType(b[0])); c == nil {
			return nil, fmt.Errorf("decode command: unknown type %d", b[0])
		}
	}
	if err := json.Unmarshal(b[1:], c); err != nil {
		return nil, fmt.Errorf("decode command %d: %w", b[0], err)
	}
	return c, nil
}
