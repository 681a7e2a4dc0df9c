package fsm

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Retention: finished jobs and old hygiene-ledger entries leave the live
// state after a retention period, so the state, its snapshots and the
// servers' memory stay bounded however many jobs the cluster has run. The
// FSM stays pure: ExpireRecords returns what it removed (an *Expired) and
// the raft adapter hands that to each server's archive (raft/archive),
// which the API answers from once a record is no longer live.

// CmdExpireRecords is outside the blocks of the other commands (1.., 64..)
// so that it never collides with them.
const CmdExpireRecords CommandType = 96

// ExpireRecords removes, oldest first, finished jobs (completed, failed,
// cancelled, timed out) that ended before Before, with their request-id
// records, and hygiene-ledger entries older than Before except the ones
// live views still need (see prunableLedger). Limit, when not 0, bounds the
// jobs and the ledger entries (each) that one command removes, so a large
// backlog is archived in several small applies instead of one long stall.
type ExpireRecords struct {
	Before time.Time `json:"before"`
	Limit  int       `json:"limit,omitempty"`
}

func (ExpireRecords) Type() CommandType { return CmdExpireRecords }

// IsExpiry reports whether a log entry is an ExpireRecords command, so the
// raft adapter can bracket its apply for the archive without decoding it.
func IsExpiry(entry []byte) bool { return len(entry) > 0 && CommandType(entry[0]) == CmdExpireRecords }

// Expiry is the state's record of what retention removed so far. Seq counts
// the ExpireRecords commands that removed something: an archive that has
// stored batches 1..Seq holds every record this state no longer has.
type Expiry struct {
	Seq    uint64    `json:"seq"`
	Before time.Time `json:"before"` // the latest cut-off applied
	Jobs   uint64    `json:"jobs"`   // jobs removed in total
	Ledger uint64    `json:"ledger"` // ledger entries removed in total
}

// Expired is the result of an ExpireRecords apply: the records it removed
// from the live state, for the archive. Seq is 0 when nothing was removed
// (and then nothing needs archiving).
type Expired struct {
	Seq    uint64
	Before time.Time
	// Jobs in (EndTime, ID) order; Ledger by time, then node, then position.
	Jobs   []*model.Job
	Ledger []NodeLedgerEntry
	// More says Limit stopped the command: more records are due.
	More bool
}

// NodeLedgerEntry is a ledger entry with its node.
type NodeLedgerEntry struct {
	Node  string            `json:"node"`
	Entry model.LedgerEntry `json:"entry"`
}

// ExpiryMark returns the state's expiry record.
func (f *FSM) ExpiryMark() Expiry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Expiry
}

// jobExpirable is the job rule: finished, and ended before the cut-off.
func jobExpirable(j *model.Job, before time.Time) bool {
	return j.State.Terminal() && j.EndTime.Before(before)
}

// prunableLedger calls fn with the position of every entry of one node's
// ledger that may leave the live state: older than before, not the node's
// latest entry of its step (live views show e.g. the last firmware check
// and the last step), and not part of the open custody cycle, i.e. not after
// the node's last "cleaned" entry (what explains a node that is cleaning,
// down or quarantined stays live). The FSM itself never reads the ledger.
func prunableLedger(entries []model.LedgerEntry, before time.Time, fn func(i int) bool) {
	lastCleaned := -1
	last := map[string]int{}
	for i, e := range entries {
		last[e.Step] = i
		if e.Step == "cleaned" {
			lastCleaned = i
		}
	}
	for i := 0; i < lastCleaned; i++ {
		e := entries[i]
		if e.Time.Before(before) && last[e.Step] != i {
			if !fn(i) {
				return
			}
		}
	}
}

// ExpiryDue reports whether an ExpireRecords with this cut-off would remove
// anything: the leader asks before proposing one.
func (s *State) ExpiryDue(before time.Time) bool {
	for _, j := range s.Jobs {
		if jobExpirable(j, before) {
			return true
		}
	}
	for _, entries := range s.Ledger {
		due := false
		prunableLedger(entries, before, func(int) bool { due = true; return false })
		if due {
			return true
		}
	}
	return false
}

type ledgerPos struct {
	node string
	i    int
	t    time.Time
}

func (s *State) expireRecords(c *ExpireRecords) (*Expired, error) {
	if c.Before.IsZero() {
		return nil, errorf(ErrInvalid, "expiry needs a cut-off time")
	}
	if c.Limit < 0 {
		return nil, errorf(ErrInvalid, "expiry limit %d is negative", c.Limit)
	}
	out := &Expired{Before: c.Before}

	for _, j := range s.Jobs {
		if jobExpirable(j, c.Before) {
			out.Jobs = append(out.Jobs, j)
		}
	}
	slices.SortFunc(out.Jobs, func(a, b *model.Job) int {
		return cmp.Or(a.EndTime.Compare(b.EndTime), cmp.Compare(a.ID, b.ID))
	})
	if c.Limit > 0 && len(out.Jobs) > c.Limit {
		out.Jobs, out.More = out.Jobs[:c.Limit:c.Limit], true
	}

	var cand []ledgerPos
	for node, entries := range s.Ledger {
		prunableLedger(entries, c.Before, func(i int) bool {
			cand = append(cand, ledgerPos{node: node, i: i, t: entries[i].Time})
			return true
		})
	}
	sort.Slice(cand, func(a, b int) bool {
		x, y := cand[a], cand[b]
		if !x.t.Equal(y.t) {
			return x.t.Before(y.t)
		}
		if x.node != y.node {
			return x.node < y.node
		}
		return x.i < y.i
	})
	if c.Limit > 0 && len(cand) > c.Limit {
		cand, out.More = cand[:c.Limit], true
	}

	if len(out.Jobs) == 0 && len(cand) == 0 {
		return out, nil // Seq 0: nothing to archive, nothing changed
	}

	// Jobs, their request-id records and their index entries.
	gone := make(map[uint64]bool, len(out.Jobs))
	for _, j := range out.Jobs {
		gone[j.ID] = true
		delete(s.Jobs, j.ID)
		if j.RequestID != "" {
			if key := j.Tenant + "/" + j.RequestID; s.Requests[key] == j.ID {
				delete(s.Requests, key)
			}
		}
	}
	if len(gone) > 0 {
		s.idx.pendingQ = slices.DeleteFunc(s.idx.pendingQ, func(id uint64) bool { return gone[id] })
		// Go maps do not shrink: after removing most of a table, copy
		// what is left so the memory goes with the records.
		if len(gone) > len(s.Jobs) {
			s.Jobs = compactMap(s.Jobs)
			s.Requests = compactMap(s.Requests)
		}
	}

	// Ledger entries: filter each touched node's ledger.
	drop := map[string]map[int]bool{}
	for _, p := range cand {
		if drop[p.node] == nil {
			drop[p.node] = map[int]bool{}
		}
		drop[p.node][p.i] = true
		out.Ledger = append(out.Ledger, NodeLedgerEntry{Node: p.node, Entry: s.Ledger[p.node][p.i]})
	}
	for node, d := range drop {
		old := s.Ledger[node]
		kept := make([]model.LedgerEntry, 0, len(old)-len(d))
		for i, e := range old {
			if !d[i] {
				kept = append(kept, e)
			}
		}
		s.Ledger[node] = kept
	}

	s.Expiry.Seq++
	if c.Before.After(s.Expiry.Before) {
		s.Expiry.Before = c.Before
	}
	s.Expiry.Jobs += uint64(len(out.Jobs))
	s.Expiry.Ledger += uint64(len(out.Ledger))
	out.Seq = s.Expiry.Seq
	return out, nil
}

func compactMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
