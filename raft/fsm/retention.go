package fsm

import (
	"cmp"
	"slices"
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

// jobExpirable is the job rule: finished, and ended before the cut-off;
// an array's tasks only once the whole array has ended, so its record
// carries the array's outcome into the archive (pipeline.go).
func (s *State) jobExpirable(j *model.Job, before time.Time) bool {
	if !j.State.Terminal() || !j.EndTime.Before(before) {
		return false
	}
	if j.ArrayJobID != 0 {
		rec := s.Jobs[j.ArrayJobID]
		return rec == nil || rec.ArrayDone
	}
	return true
}

// prunableLedger calls fn with the position of every entry of one node's
// ledger that may leave the live state: older than before, not the node's
// latest entry of its step (live views show e.g. the last firmware check
// and the last step), and not part of the open custody cycle, i.e. not after
// the node's last "cleaned" entry (what explains a node that is cleaning,
// down or quarantined stays live). The FSM itself never reads the ledger.
func prunableLedger(entries []model.LedgerEntry, before time.Time, fn func(i int) bool) {
	// Backwards: the last "cleaned" and the last entry of each step (a
	// handful of steps, so a small slice beats a map on this hot path).
	lastCleaned := -1
	var buf [16]int
	last := buf[:0]
	var steps [16]string
	seen := steps[:0]
	for i := len(entries) - 1; i >= 0; i-- {
		step := entries[i].Step
		if slices.Contains(seen, step) {
			continue
		}
		seen = append(seen, step)
		last = append(last, i)
		if step == "cleaned" {
			lastCleaned = i
		}
	}
	for i := 0; i < lastCleaned; i++ {
		if entries[i].Time.Before(before) && !slices.Contains(last, i) {
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
		if s.jobExpirable(j, before) {
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

// ExpiryBacklog counts the jobs and ledger entries an ExpireRecords with
// this cut-off and no limit would remove.
func (s *State) ExpiryBacklog(before time.Time) (jobs, ledger int) {
	for _, j := range s.Jobs {
		if s.jobExpirable(j, before) {
			jobs++
		}
	}
	for _, entries := range s.Ledger {
		prunableLedger(entries, before, func(int) bool { ledger++; return true })
	}
	return jobs, ledger
}

// ExpiryLimit is the Limit a leader proposes for a backlog: 1000 records
// of each kind per apply in steady state, and for a large backlog (the
// first start with retention on a busy cluster) an eighth of it, up to
// 20000, so that it drains in a few dozen applies: each apply scans the
// whole live state once.
func ExpiryLimit(jobs, ledger int) int { return min(max(jobs/8, ledger/8, 1000), 20000) }

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

	// The oldest Limit of each kind, without sorting (or copying) the
	// whole backlog: a large backlog is drained in many such applies.
	jobs := newOldest(c.Limit, func(a, b *model.Job) bool {
		return cmp.Or(a.EndTime.Compare(b.EndTime), cmp.Compare(a.ID, b.ID)) < 0
	})
	for _, j := range s.Jobs {
		if s.jobExpirable(j, c.Before) {
			jobs.add(j)
		}
	}
	out.Jobs = jobs.sorted()
	ledger := newOldest(c.Limit, func(x, y ledgerPos) bool {
		if !x.t.Equal(y.t) {
			return x.t.Before(y.t)
		}
		if x.node != y.node {
			return x.node < y.node
		}
		return x.i < y.i
	})
	for node, entries := range s.Ledger {
		prunableLedger(entries, c.Before, func(i int) bool {
			ledger.add(ledgerPos{node: node, i: i, t: entries[i].Time})
			return true
		})
	}
	cand := ledger.sorted()
	out.More = jobs.dropped || ledger.dropped

	if len(out.Jobs) == 0 && len(cand) == 0 {
		return out, nil // Seq 0: nothing to archive, nothing changed
	}

	// Jobs, their request-id records and their index entries.
	gone := make(map[uint64]bool, len(out.Jobs))
	goneJobs := make(map[uint64]*model.Job, len(out.Jobs))
	for _, j := range out.Jobs {
		gone[j.ID] = true
		goneJobs[j.ID] = j
		delete(s.Jobs, j.ID)
		if j.RequestID != "" {
			if key := j.Tenant + "/" + j.RequestID; s.Requests[key] == j.ID {
				delete(s.Requests, key)
			}
		}
	}
	if len(gone) > 0 {
		s.idx.pendingQ = slices.DeleteFunc(s.idx.pendingQ, func(id uint64) bool { return gone[id] })
		s.resolveExpired(goneJobs) // pipeline.go
		for _, j := range out.Jobs {
			if j.ArrayJobID != 0 {
				s.idx.arrays[j.ArrayJobID] = slices.DeleteFunc(s.idx.arrays[j.ArrayJobID], func(id uint64) bool { return gone[id] })
				if len(s.idx.arrays[j.ArrayJobID]) == 0 {
					delete(s.idx.arrays, j.ArrayJobID)
				}
			}
		}
		// Go maps do not shrink: after removing most of a table, copy
		// what is left so the memory goes with the records.
		if len(gone) > len(s.Jobs) {
			s.Jobs = compactMap(s.Jobs)
			s.Requests = compactMap(s.Requests)
		}
	}

	// Ledger entries: filter each touched node's ledger in place (readers
	// only ever see copies), and let go of a mostly empty backing array.
	byNode := map[string][]int{}
	for _, p := range cand {
		byNode[p.node] = append(byNode[p.node], p.i)
		out.Ledger = append(out.Ledger, NodeLedgerEntry{Node: p.node, Entry: s.Ledger[p.node][p.i]})
	}
	for node, drop := range byNode {
		slices.Sort(drop)
		old := s.Ledger[node]
		kept := old[:0]
		for i, e := range old {
			if len(drop) > 0 && drop[0] == i {
				drop = drop[1:]
				continue
			}
			kept = append(kept, e)
		}
		clear(old[len(kept):])
		if cap(kept) > 2*len(kept)+64 {
			kept = slices.Clone(kept)
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

// oldest keeps the limit smallest items it is given (all of them when
// limit is 0) in a max-heap, and whether it dropped any.
type oldest[T any] struct {
	limit   int
	less    func(a, b T) bool
	h       []T
	dropped bool
}

func newOldest[T any](limit int, less func(a, b T) bool) *oldest[T] {
	return &oldest[T]{limit: limit, less: less}
}

func (o *oldest[T]) add(x T) {
	if o.limit == 0 || len(o.h) < o.limit {
		o.h = append(o.h, x)
		if o.limit > 0 { // sift up
			for i := len(o.h) - 1; i > 0; {
				p := (i - 1) / 2
				if !o.less(o.h[p], o.h[i]) {
					break
				}
				o.h[p], o.h[i] = o.h[i], o.h[p]
				i = p
			}
		}
		return
	}
	o.dropped = true
	if !o.less(x, o.h[0]) {
		return
	}
	o.h[0] = x // replace the largest, sift down
	for i := 0; ; {
		l, big := 2*i+1, i
		if l < len(o.h) && o.less(o.h[big], o.h[l]) {
			big = l
		}
		if r := l + 1; r < len(o.h) && o.less(o.h[big], o.h[r]) {
			big = r
		}
		if big == i {
			break
		}
		o.h[i], o.h[big] = o.h[big], o.h[i]
		i = big
	}
}

// sorted returns the kept items, smallest first.
func (o *oldest[T]) sorted() []T {
	slices.SortFunc(o.h, func(a, b T) int {
		if o.less(a, b) {
			return -1
		}
		if o.less(b, a) {
			return 1
		}
		return 0
	})
	return o.h
}

func compactMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func init() {
	register(CmdExpireRecords, func(s *State, c *ExpireRecords) (any, error) { return s.expireRecords(c) })
}
