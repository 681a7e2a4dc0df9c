package agentgw

// Jobs on the agent stream, the gateway's half: it keeps the latest
// JobReport of every (node, job) from the stream and the agents' Hellos,
// the results of the stop tasks Executor sent, and hands OutputChunks to
// the readers waiting for them. Executor (executor.go) is the control
// loop's view of all this.

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

const (
	// maxReportsPerNode bounds the reports kept per node; the oldest
	// ended ones go first. An agent lists at most 1,024 jobs in a Hello.
	maxReportsPerNode = 2048
	// maxResults bounds the stop results kept.
	maxResults = 4096
	// maxReasonBytes bounds a reason kept from an agent's report.
	maxReasonBytes = 1024
)

// jobCache is what the gateway knows of the agents' jobs.
type jobCache struct {
	mu      sync.Mutex
	reports map[string]map[uint64]*pb.JobReport // node → job → latest
	results map[string]*pb.TaskResult           // stop task id → result
	order   []string                            // results, oldest first
	expect  map[string]bool                     // stop task ids sent, result pending
	waiters map[string]chan struct{}            // stop task id → closed when its result is in
	outputs map[string]chan *pb.OutputChunk     // output task id → its reader
	ended   chan struct{}                       // a report of an ended job came in (buffered, 1): ended.go
	onEnded func(node string, job uint64)       // OnJobEnded (ended.go)
}

func newJobCache() *jobCache {
	return &jobCache{reports: map[string]map[uint64]*pb.JobReport{}, results: map[string]*pb.TaskResult{},
		expect: map[string]bool{}, waiters: map[string]chan struct{}{}, outputs: map[string]chan *pb.OutputChunk{},
		ended: make(chan struct{}, 1)}
}

// helloJobs checks an agent's Hello against this server's term and
// replaces what is known of the node's jobs with its list: the agent's
// journal is the truth, and reports cached from an older stream (or sent
// to a server that was deposed since) must not outlive it.
func (a *Gateway) helloJobs(node string, h *pb.AgentHello) error {
	if term := a.cfg.Store.Term(); h.GetTerm() > term {
		return status.Errorf(codes.Unavailable, "not the leader: the agent of %s has seen term %d, this server is at %d", node, h.GetTerm(), term)
	}
	c := a.jobs
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[uint64]*pb.JobReport{}
	for _, r := range h.GetJobs() {
		if r.GetJobId() != 0 {
			m[r.GetJobId()] = trimReport(r)
		}
	}
	c.reports[node] = m
	c.prune(node)
	return nil
}

// leaderCheck is how often an agent's stream checks that this server still
// leads. A deposed leader must not keep the agents: the new leader could
// not reach them, and their reports would go to a server that cannot act.
const leaderCheck = time.Second

// stillLeader ends a stream on a server that no longer leads; the agent
// reconnects and finds the leader.
func (a *Gateway) stillLeader(node string) error {
	if a.cfg.Store.IsLeader() {
		return nil
	}
	a.cfg.Log.Info("no longer the leader; ending the agent's stream", "node", node)
	return status.Error(codes.Unavailable, "not the leader any more; try another server")
}

// keepaliveOptions let agents ping their stream every 5 s or more (their
// --keepalive), so an agent notices a server that froze (SIGSTOP, a dead
// host) and moves to the new leader; the server pings idle agents too.
func keepaliveOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 15 * time.Second, Timeout: 5 * time.Second}),
	}
}

// announceTerm tells a newly connected agent this leader's term before
// any task, so a deposed leader it reaches later is refused even before
// this one sent it anything.
func (a *Gateway) announceTerm(sess *agentSession) {
	select {
	case sess.send <- &pb.AgentTask{Term: a.cfg.Store.Term()}:
	default:
	}
}

// handleJob takes the job messages of the stream; it reports whether m
// was one.
func (a *Gateway) handleJob(sess *agentSession, m *pb.AgentMessage) bool {
	c := a.jobs
	switch {
	case m.GetJob() != nil:
		r := m.GetJob()
		if r.GetJobId() == 0 {
			return true
		}
		c.mu.Lock()
		if c.reports[sess.node] == nil {
			c.reports[sess.node] = map[uint64]*pb.JobReport{}
		}
		c.reports[sess.node][r.GetJobId()] = trimReport(r)
		c.prune(sess.node)
		c.mu.Unlock()
		if ended(r.GetPhase()) {
			c.notifyEnded()
			c.endedHook(sess.node, r.GetJobId())
		}
		return true
	case m.GetOutput() != nil:
		o := m.GetOutput()
		c.mu.Lock()
		ch := c.outputs[o.GetTaskId()]
		delete(c.outputs, o.GetTaskId())
		c.mu.Unlock()
		if ch != nil {
			ch <- o // buffered, one answer per request
		}
		return true
	case m.GetResult() != nil:
		r := m.GetResult()
		c.mu.Lock()
		if !c.expect[r.GetId()] {
			c.mu.Unlock()
			return false // a hygiene task's
		}
		delete(c.expect, r.GetId())
		c.results[r.GetId()] = r
		c.order = append(c.order, r.GetId())
		for len(c.order) > maxResults {
			delete(c.results, c.order[0])
			c.order = c.order[1:]
		}
		if w := c.waiters[r.GetId()]; w != nil {
			close(w)
			delete(c.waiters, r.GetId())
		}
		c.mu.Unlock()
		if !r.GetOk() {
			// Let the stop be sent again on this stream: a failed clean
			// is retried, with the same id (the agent keeps only
			// successes).
			a.unsend(sess.node, r.GetId())
		}
		return true
	}
	return false
}

func trimReport(r *pb.JobReport) *pb.JobReport {
	if len(r.GetReason()) > maxReasonBytes {
		r.Reason = r.Reason[:maxReasonBytes] + "…"
	}
	return r
}

// prune drops the node's ended jobs beyond maxReportsPerNode. c.mu held.
func (c *jobCache) prune(node string) {
	m := c.reports[node]
	for id, r := range m {
		if len(m) <= maxReportsPerNode {
			return
		}
		if ended(r.GetPhase()) {
			delete(m, id)
		}
	}
}

func ended(phase string) bool {
	return phase == "exited" || phase == "lost" || phase == "refused"
}

// report is the latest report of job on node.
func (c *jobCache) report(node string, job uint64) (*pb.JobReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.reports[node][job]
	return r, ok
}

// expectResult notes that the result of stop task id is awaited and
// returns a channel closed when it is in (at once if it is already).
func (c *jobCache) expectResult(id string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.results[id]; ok {
		w := make(chan struct{})
		close(w)
		return w
	}
	c.expect[id] = true
	w := c.waiters[id]
	if w == nil {
		w = make(chan struct{})
		c.waiters[id] = w
	}
	return w
}

// result is stop task id's result, if in. A failed one is handed out
// once, then forgotten, so the next call sends the stop again.
func (c *jobCache) result(id string) (*pb.TaskResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.results[id]
	if ok && !r.GetOk() {
		delete(c.results, id)
	}
	return r, ok
}

// awaitOutput registers the reader of output task id.
func (c *jobCache) awaitOutput(id string) <-chan *pb.OutputChunk {
	ch := make(chan *pb.OutputChunk, 1)
	c.mu.Lock()
	c.outputs[id] = ch
	c.mu.Unlock()
	return ch
}

func (c *jobCache) dropOutput(id string) {
	c.mu.Lock()
	delete(c.outputs, id)
	c.mu.Unlock()
}

// send hands t to the node's stream without recording it as sent: output
// requests have a fresh id each and are never resent.
func (a *Gateway) send(node string, t *pb.AgentTask, wait time.Duration) error {
	a.mu.Lock()
	sess, ok := a.sessions[node]
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("the agent of %s is not connected to this server", node)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case sess.send <- t:
		return nil
	case <-timer.C:
		return fmt.Errorf("the stream to the agent of %s is congested", node)
	}
}

// unsend forgets that the node's current stream carried task id, so
// Dispatch sends it again.
func (a *Gateway) unsend(node, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sess, ok := a.sessions[node]; ok {
		delete(sess.sent, id)
	}
}
