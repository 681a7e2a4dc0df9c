package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Group commit: Apply calls that arrive while earlier commits are in
// flight wait in a queue, and the next commit takes the whole queue as one
// fsm.Batch entry. Under load, many commands share one log record, one
// replication round, one disk sync on each server and one FSM lock; alone,
// a command goes out at once, as itself, and pays nothing extra. Callers
// see no difference: each gets its own command's result or error.
//
// hashicorp/raft already writes the entries that wait in its apply channel
// with one sync (BatchApplyCh), but it still stores, ships and applies them
// one entry at a time; the batch entry removes that per-entry cost.
//
// A caller's own fsm.Batch (Jobs.SubmitMany) queues as one unit of several
// commands: they stay together and in order inside the entry, applied
// exactly as their own batch entry would be, and the caller gets their
// results as the batch's BatchResults.

// Defaults of the group commit (Config.GroupCommit*).
const (
	defaultGroupCommitInFlight = 2
	defaultGroupCommitEntries  = 512
	defaultGroupCommitBytes    = 4 << 20
)

// committer is the queue in front of raft.Apply.
type committer struct {
	c          *Cluster
	maxEntries int
	maxBytes   int
	// slots holds one token per commit allowed in flight.
	slots chan struct{}

	mu      sync.Mutex
	queue   []*pending
	stopped bool
	wake    chan struct{} // capacity 1: "the queue is not empty"
	done    chan struct{} // closed when the loop has returned
}

// pending is one Apply call waiting for its command's outcome.
type pending struct {
	ctx     context.Context
	entries [][]byte // one command, or a caller's batch (many)
	size    int      // bytes of entries
	// many: the caller sent an fsm.Batch and gets fsm.BatchResults.
	many bool
	out  chan fsm.Result // capacity 1
}

func newCommitter(c *Cluster, inFlight, maxEntries, maxBytes int) *committer {
	g := &committer{c: c, maxEntries: maxEntries, maxBytes: maxBytes,
		slots: make(chan struct{}, inFlight), wake: make(chan struct{}, 1), done: make(chan struct{})}
	for range inFlight {
		g.slots <- struct{}{}
	}
	go g.loop()
	return g
}

// errShutdown is what waiting callers get when the server stops.
var errShutdown = errors.New("raft apply: the server is shutting down")

// apply queues entry and waits for its result. Like a lone raft.Apply, it
// waits for the outcome once the command is queued, whatever ctx does: a
// command that may commit is answered, not abandoned.
func (g *committer) apply(ctx context.Context, entry []byte) fsm.Result {
	return g.enqueue(&pending{ctx: ctx, entries: [][]byte{entry}, size: len(entry), out: make(chan fsm.Result, 1)})
}

// applyMany queues the commands of a caller's batch, each already made by
// fsm.Encode, as one unit; the result's Value is their fsm.BatchResults.
func (g *committer) applyMany(ctx context.Context, entries [][]byte) fsm.Result {
	size := 0
	for _, e := range entries {
		size += len(e)
	}
	return g.enqueue(&pending{ctx: ctx, entries: entries, size: size, many: true, out: make(chan fsm.Result, 1)})
}

func (g *committer) enqueue(p *pending) fsm.Result {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return fsm.Result{Err: errShutdown}
	}
	g.queue = append(g.queue, p)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return <-p.out
}

// stop fails what is still queued and ends the loop; commits in flight
// finish on their own (raft answers them when it shuts down).
func (g *committer) stop() {
	g.mu.Lock()
	g.stopped = true
	q := g.queue
	g.queue = nil
	g.mu.Unlock()
	for _, p := range q {
		p.out <- fsm.Result{Err: errShutdown}
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
	<-g.done
}

func (g *committer) loop() {
	defer close(g.done)
	for {
		<-g.wake
		for {
			// Waiting for a slot is what lets the queue grow while
			// earlier commits are in flight.
			<-g.slots
			batch, more, stopped := g.take()
			if stopped {
				return
			}
			if len(batch) == 0 {
				g.slots <- struct{}{}
				break
			}
			g.commit(batch)
			if !more {
				break
			}
		}
	}
}

// take removes from the queue what fits in one entry, and answers callers
// that gave up before their command was sent (it is then never committed).
func (g *committer) take() (batch []*pending, more, stopped bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil, false, true
	}
	size, count, n := 0, 0, 0
	for n < len(g.queue) {
		p := g.queue[n]
		// A unit bigger than the bounds goes alone.
		if len(batch) > 0 && (size+p.size > g.maxBytes || count+len(p.entries) > g.maxEntries) {
			break
		}
		n++
		if err := p.ctx.Err(); err != nil {
			p.out <- fsm.Result{Err: err}
			continue
		}
		batch = append(batch, p)
		size += p.size
		count += len(p.entries)
	}
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	return batch, rest > 0, false
}

// commit sends batch as one entry (a lone command as itself) and hands
// each caller its result when raft has applied it; the slot is given back
// then.
func (g *committer) commit(batch []*pending) {
	alone := len(batch) == 1 && !batch[0].many
	var data []byte
	if alone {
		data = batch[0].entries[0]
	} else {
		var entries [][]byte
		for _, p := range batch {
			entries = append(entries, p.entries...)
		}
		var err error
		if data, err = fsm.EncodeBatch(entries); err != nil {
			// Apply only queues batchable entries; this is a bug.
			for _, p := range batch {
				p.out <- fsm.Result{Err: fmt.Errorf("raft apply: %w", err)}
			}
			g.slots <- struct{}{}
			return
		}
	}
	fut := g.c.raft.Apply(data, g.c.cfg.ApplyTimeout)
	go func() {
		defer func() { g.slots <- struct{}{} }()
		if err := fut.Error(); err != nil {
			err = g.c.applyError(err)
			for _, p := range batch {
				p.out <- fsm.Result{Err: err}
			}
			return
		}
		res, ok := fut.Response().(fsm.Result)
		if !ok {
			res = fsm.Result{Err: fmt.Errorf("raft apply: the FSM answered %T", fut.Response())}
		}
		if alone {
			batch[0].out <- res
			return
		}
		n := 0
		for _, p := range batch {
			n += len(p.entries)
		}
		br, ok := res.Value.(fsm.BatchResults)
		if res.Err != nil || !ok || len(br) != n {
			err := res.Err
			if err == nil {
				err = fmt.Errorf("raft apply: a batch of %d commands answered %T", n, res.Value)
			}
			for _, p := range batch {
				p.out <- fsm.Result{Err: err}
			}
			return
		}
		for _, p := range batch {
			k := len(p.entries)
			if p.many {
				p.out <- fsm.Result{Value: br[:k:k]}
			} else {
				p.out <- br[0]
			}
			br = br[k:]
		}
	}()
}

// applyTimeout is how long a lone Apply may wait for raft to take its
// entry: the caller's deadline, or the configured bound.
func (c *Cluster) applyTimeout(ctx context.Context) (time.Duration, error) {
	timeout := c.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return 0, context.DeadlineExceeded
		}
	}
	return timeout, nil
}

// applyError maps raft's errors to the ones callers act on.
func (c *Cluster) applyError(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return c.notLeader()
	}
	return fmt.Errorf("raft apply: %w", err)
}

// batchEntries encodes the commands of a caller's batch for applyMany; ok
// is false when one cannot travel in a group commit (then the batch goes
// to raft as its own entry, as before).
func batchEntries(b *fsm.Batch) ([][]byte, bool) {
	if len(b.Commands) == 0 {
		return nil, false
	}
	entries := make([][]byte, len(b.Commands))
	for i, c := range b.Commands {
		if c == nil || !fsm.Batchable(c.Type()) {
			return nil, false
		}
		e, err := fsm.Encode(c)
		if err != nil {
			return nil, false
		}
		entries[i] = e
	}
	return entries, true
}
