package fsm

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// PartitionDrift records that a node's partitions were found changed
// outside ibex (partitions.conf replaced, a port's P_Key table not what
// the allocations say) and what the repair did. Each named node gets a
// ledger entry in the tenancy it is in.
type PartitionDrift struct {
	Nodes    []string  `json:"nodes"`
	Evidence string    `json:"evidence"`
	Repaired bool      `json:"repaired"`
	Time     time.Time `json:"time"`
	Origin
}

func (PartitionDrift) Type() CommandType { return CmdPartitionDrift }

func init() { registerE(CmdPartitionDrift, (*State).partitionDrift) }

// DriftStep is the ledger step of a partition drift.
const DriftStep = "partition-drift"

// maxDriftEvidence bounds the evidence (it names ports and tables).
const maxDriftEvidence = 16 << 10

func (s *State) partitionDrift(c *PartitionDrift) error {
	if c.Evidence == "" || len(c.Evidence) > maxDriftEvidence {
		return errorf(ErrInvalid, "partition drift needs evidence of at most %d bytes, got %d", maxDriftEvidence, len(c.Evidence))
	}
	seen := map[string]bool{}
	for _, name := range c.Nodes {
		if _, ok := s.Nodes[name]; !ok {
			return errorf(ErrNotFound, "node %q", name)
		}
		if seen[name] {
			return errorf(ErrInvalid, "node %q twice", name)
		}
		seen[name] = true
	}
	for _, name := range c.Nodes {
		n := s.Nodes[name]
		s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Step: DriftStep, Actor: "ibexd", OK: c.Repaired, Evidence: c.Evidence, JobID: n.JobID})
	}
	return nil
}
