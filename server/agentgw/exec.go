package agentgw

// Exec: processes started inside a job on a node by that node's agent
// (server/launch serves `ibex exec`, `ibex run` and `ibex mpirun` through
// it). The ExecTask goes down the agent's stream with a fresh exec id as
// its task id, the agent streams ExecEvents back, and the caller reads
// them from a channel. An exec belongs to the stream that carried it: when
// the stream ends the agent kills the exec and the caller's channel
// closes without a final event.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// execBuffer is the events waiting for a slow caller before the agent's
// stream waits for it.
const execBuffer = 16

// signalTimeout bounds the wait to hand an ExecSignal to a busy stream.
const signalTimeout = 5 * time.Second

// execRegistry is the gateway's running execs, by exec id. Its zero value
// is ready to use.
type execRegistry struct {
	mu sync.Mutex
	m  map[string]*gwExec
}

type gwExec struct {
	id   string
	sess *agentSession
	ch   chan *pb.ExecEvent // written and closed by the session's receive loop only
	end  chan struct{}      // closed with ch
}

// Exec starts task on node through its agent and returns the exec's
// events: output, then one final event (Done; with Error set when the exec
// could not start), then the channel closes. A channel that closes without
// a final event means the agent's stream ended: the exec is lost with it.
// The caller must read until the channel closes. Ending ctx kills the
// exec (ExecSignal); its final event still follows.
func (a *Gateway) Exec(ctx context.Context, node string, task *pb.ExecTask) (<-chan *pb.ExecEvent, error) {
	return a.ExecSrun(ctx, node, task, nil)
}

// ExecSrun is Exec run srun-like as srun says (probe, plain tasks); nil
// is Exec.
func (a *Gateway) ExecSrun(ctx context.Context, node string, task *pb.ExecTask, srun *pb.SrunSpec) (<-chan *pb.ExecEvent, error) {
	a.mu.Lock()
	sess := a.sessions[node]
	a.mu.Unlock()
	if sess == nil {
		return nil, status.Errorf(codes.Unavailable, "the agent of %s is not connected to this server; retry when the node is up", node)
	}
	x := &gwExec{id: newExecID(), sess: sess, ch: make(chan *pb.ExecEvent, execBuffer), end: make(chan struct{})}
	if !a.execs.add(x) {
		return nil, status.Errorf(codes.Unavailable, "the agent of %s just disconnected; retry when the node is up", node)
	}
	term := a.cfg.Store.Term()
	t := &pb.AgentTask{Id: x.id, Term: term, Kind: &pb.AgentTask_Exec{Exec: task}, Srun: srun}
	if err := sendTask(ctx, sess, t); err != nil {
		// Not handed over: the session's receive loop never hears of it,
		// so the channel is not given out and needs no closing.
		a.execs.remove(x.id)
		return nil, err
	}
	go func() {
		select {
		case <-x.end:
		case <-ctx.Done():
			select {
			case <-x.end:
				return // it ended meanwhile
			default:
			}
			sctx, cancel := context.WithTimeout(context.Background(), signalTimeout)
			defer cancel()
			sig := &pb.AgentTask{Id: x.id + ".signal", Term: term, Kind: &pb.AgentTask_ExecSignal{ExecSignal: &pb.ExecSignal{ExecId: x.id}}}
			if err := sendTask(sctx, sess, sig); err != nil {
				a.cfg.Log.Warn("exec: cannot send the kill to the agent", "node", node, "exec", x.id, "err", err)
			}
		}
	}()
	return x.ch, nil
}

// sendTask hands t to the session's stream, waiting while it is busy.
func sendTask(ctx context.Context, sess *agentSession, t *pb.AgentTask) error {
	select {
	case sess.send <- t:
		return nil
	case <-sess.gone:
		return status.Errorf(codes.Unavailable, "the agent of %s disconnected; retry when the node is up", sess.node)
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// execEvent delivers an agent's ExecEvent to its caller. It runs on the
// session's receive loop, so a caller that reads slowly slows the agent's
// whole stream down, which in turn holds up the process's output: flow
// control, as a pipe or ssh gives it.
func (a *Gateway) execEvent(ctx context.Context, sess *agentSession, ev *pb.ExecEvent) {
	x := a.execs.get(ev.GetExecId())
	if x == nil || x.sess != sess {
		return // an exec this server no longer waits for
	}
	if ev.GetDone() {
		// Ended before the caller hears so: a caller that then cancels
		// sends no kill for a process that is gone.
		a.execs.remove(x.id)
		close(x.end)
		select {
		case x.ch <- ev:
		case <-ctx.Done():
		}
		close(x.ch)
		return
	}
	select {
	case x.ch <- ev:
	case <-ctx.Done(): // the stream ended; endExecs closes the channel
	}
}

// endExecs closes the channels of the session's execs when its receive
// loop ends: their events cannot come any more.
func (a *Gateway) endExecs(sess *agentSession) {
	a.execs.mu.Lock()
	close(sess.gone)
	var ended []*gwExec
	for id, x := range a.execs.m {
		if x.sess == sess {
			ended = append(ended, x)
			delete(a.execs.m, id)
		}
	}
	a.execs.mu.Unlock()
	for _, x := range ended {
		x.close()
	}
}

func (x *gwExec) close() {
	close(x.ch)
	close(x.end)
}

// add registers x unless its session has already ended.
func (r *execRegistry) add(x *gwExec) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-x.sess.gone:
		return false
	default:
	}
	if r.m == nil {
		r.m = map[string]*gwExec{}
	}
	r.m[x.id] = x
	return true
}

func (r *execRegistry) get(id string) *gwExec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

func (r *execRegistry) remove(id string) {
	r.mu.Lock()
	delete(r.m, id)
	r.mu.Unlock()
}

func newExecID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "exec-" + hex.EncodeToString(b)
}
