package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one server of the raft configuration.
type Member struct {
	ID, Addr string
	Voter    bool
	Leader   bool
}

// Members returns the current raft configuration.
func (c *Cluster) Members() ([]Member, error) {
	fut := c.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	_, leader := c.raft.LeaderWithID()
	var out []Member
	for _, s := range fut.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader})
	}
	return out, nil
}

// Join adds a voter. Joining again with the same id and address is a no-op;
// the same id with a new address replaces the old entry.
func (c *Cluster) Join(id, addr string) error {
	if id == "" || addr == "" {
		return errors.New("join needs a server id and a raft address")
	}
	err := c.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, c.cfg.ApplyTimeout).Error()
	return c.leaderErr("add voter", err)
}

// Remove takes a server out of the configuration.
func (c *Cluster) Remove(id string) error {
	err := c.raft.RemoveServer(raft.ServerID(id), 0, c.cfg.ApplyTimeout).Error()
	return c.leaderErr("remove server", err)
}

func (c *Cluster) leaderErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return c.notLeader()
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Leader returns the current leader's id and raft address, if known.
func (c *Cluster) Leader() (id, addr string) {
	a, i := c.raft.LeaderWithID()
	return string(i), string(a)
}

// ReadIndex makes a following local read linearizable without writing to
// the log: note the last log index, confirm leadership with a round of
// heartbeats to a quorum, then wait until the FSM has applied that index.
// A deposed leader (partitioned, or paused and resumed) fails the quorum
// check instead of serving stale data.
func (c *Cluster) ReadIndex(ctx context.Context) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	idx := c.raft.LastIndex()
	if err := c.raft.VerifyLeader().Error(); err != nil {
		return c.leaderErr("verify leader", err)
	}
	// raft's applied index is set when a batch is handed to the FSM, not
	// when the FSM has applied it: a leader that just started (replaying
	// its log after a restart) would answer from a half-replayed state.
	// Once per term, a barrier waits until the FSM holds everything
	// committed before this leadership.
	if term := c.raft.CurrentTerm(); c.readyTerm.Load() != term {
		timeout := 10 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		if err := c.raft.Barrier(timeout).Error(); err != nil {
			return c.leaderErr("barrier", err)
		}
		c.readyTerm.Store(term)
	}
	for c.raft.AppliedIndex() < idx {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for apply: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
