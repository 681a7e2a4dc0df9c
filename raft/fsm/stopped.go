package fsm

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// JobStopped records, as a ledger entry of its own, the agent's evidence
// that nothing of a node's last job runs any more (its cgroup empty and
// removed, no process of the job user left) before the node's cleaning
// steps begin.
type JobStopped struct {
	Node     string    `json:"node"`
	JobID    uint64    `json:"job_id"`
	Evidence string    `json:"evidence"`
	Time     time.Time `json:"time"`
	Origin
}

func (JobStopped) Type() CommandType { return CmdJobStopped }

func init() { registerE(CmdJobStopped, (*State).jobStopped) }

// maxStopEvidence bounds the evidence (it names leftover processes).
const maxStopEvidence = 16 << 10

func (s *State) jobStopped(c *JobStopped) error {
	n, ok := s.Nodes[c.Node]
	if !ok {
		return errorf(ErrNotFound, "node %q", c.Node)
	}
	switch {
	case n.State != model.NodeCleaning:
		return errorf(ErrConflict, "node %s is %s, not cleaning", n.Name, n.State)
	case c.JobID == 0 || c.JobID != n.LastJobID:
		return errorf(ErrConflict, "node %s: the stop is for job %d, its last job was %d", n.Name, c.JobID, n.LastJobID)
	case n.StoppedJob == c.JobID:
		return errorf(ErrConflict, "node %s: the stop of job %d is recorded already", n.Name, c.JobID)
	case c.Evidence == "" || len(c.Evidence) > maxStopEvidence:
		return errorf(ErrInvalid, "node %s: a stop needs evidence of at most %d bytes, got %d", n.Name, maxStopEvidence, len(c.Evidence))
	}
	n.StoppedJob = c.JobID
	s.ledgerBy(n, c.Origin, model.LedgerEntry{Time: c.Time, Start: n.StateSince, Step: "stop", Actor: "agent", OK: true, Evidence: c.Evidence, JobID: c.JobID})
	return nil
}
