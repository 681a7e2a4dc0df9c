package fsm

import (
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// InfiniBand partition keys: the invariants an Allocate with a key must
// keep, and the fabric's confirmation that a job's partition is in place.

// PartitionReady records that the fabric carries the job's partition key
// on every port of its nodes.
type PartitionReady struct {
	JobID uint64    `json:"job_id"`
	PKey  uint16    `json:"pkey"`
	Time  time.Time `json:"time"`
	Origin
}

func (PartitionReady) Type() CommandType { return CmdPartitionReady }

func init() { registerE(CmdPartitionReady, (*State).partitionReady) }

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
	if !j.PartitionReady {
		// The key's presence during the job is part of the node's custody:
		// the subnet manager confirmed it on these ports before the start.
		for _, name := range j.Nodes {
			if n := s.Nodes[name]; n != nil {
				s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: "partition", Actor: "ibexd", OK: true, JobID: j.ID,
					Evidence: fmt.Sprintf("partition key %#04x confirmed on the node's ports by the subnet manager before job %d starts", j.PKey, j.ID)})
			}
		}
	}
	j.PartitionReady = true
	return nil
}
