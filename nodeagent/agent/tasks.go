package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// kindUnknown is journalled and logged for a task kind this agent does
// not know (a newer server's).
const kindUnknown model.TaskKind = "unknown"

// kindHandout is the hand-out check (task_handout.go), journalled like a
// hygiene task.
const kindHandout model.TaskKind = "handout"

func taskKind(t *pb.AgentTask) model.TaskKind {
	switch t.GetKind().(type) {
	case *pb.AgentTask_Image:
		return model.TaskImage
	case *pb.AgentTask_Erase:
		return model.TaskErase
	case *pb.AgentTask_Firmware:
		return model.TaskFirmware
	case *pb.AgentTask_Handout:
		return kindHandout
	case *pb.AgentTask_FirmwareProfile:
		return model.TaskFirmwareProfile
	}
	return kindUnknown
}

// taskQueueLen bounds tasks waiting to run. The server sends one task at a
// time per node in practice; anything beyond the bound is dropped and will
// be resent, since the server resends every task it has no result for.
const taskQueueLen = 32

// runner executes tasks one at a time, in arrival order. One at a time
// because imaging and erase use the same disk and a firmware reset takes
// the HCA away; in arrival order because the server sequences them.
type runner struct {
	a     *Agent
	queue chan *pb.AgentTask

	mu      sync.Mutex
	pending map[string]bool // queued or running in this process
}

func newRunner(a *Agent) *runner {
	return &runner{a: a, queue: make(chan *pb.AgentTask, taskQueueLen), pending: map[string]bool{}}
}

// submit is called for every task the server sends. It makes execution
// idempotent by task id: a finished task's stored result is sent again, a
// task already queued or running here is ignored (its result will follow),
// and anything else, including a task a previous run started but did not
// finish, is queued to run from scratch.
func (r *runner) submit(t *pb.AgentTask) {
	id := t.GetId()
	log := r.a.log.With("task", id, "kind", taskKind(t))
	if id == "" {
		log.Warn("ignoring a task without an id: its result could not be matched")
		return
	}
	if e, ok := r.a.journal.get(id); ok && e.State == stateDone {
		log.Info("task already done, resending its result", "ok", e.Result.OK)
		r.a.deliver(e.Result.proto(id))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[id] {
		log.Debug("task already queued or running")
		return
	}
	select {
	case r.queue <- t:
		r.pending[id] = true
	default:
		log.Warn("task queue full, dropping the task; the server will resend it")
	}
}

// run executes queued tasks until ctx ends.
func (r *runner) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-r.queue:
			r.execute(ctx, t)
			r.mu.Lock()
			delete(r.pending, t.GetId())
			r.mu.Unlock()
		}
	}
}

// execute runs one task and records its verdict. When the task failed
// because ctx ended (the agent is stopping), no verdict is recorded: the
// journal keeps "started", and the resent task runs again after restart.
func (r *runner) execute(ctx context.Context, t *pb.AgentTask) {
	id, kind := t.GetId(), taskKind(t)
	log := r.a.log.With("task", id, "kind", kind)
	var lost *journalEntry // an earlier run of this task that died with the agent
	if e, ok := r.a.journal.get(id); ok && e.State == stateDone {
		r.a.deliver(e.Result.proto(id))
		return
	} else if ok {
		log.Warn("task was started before and not finished (agent restart?); running it again from scratch", "runs", e.Runs)
		lost = &e
	}
	if err := r.a.journal.start(id, kind); err != nil {
		// Without a journal entry a crash could not be told from a
		// finished task, so do not run it; the server resends it.
		log.Error("cannot journal the task, not running it", "err", err)
		return
	}
	log.Info("task started")
	again := time.Now()
	res := r.dispatch(ctx, t)
	if ctx.Err() != nil && !res.OK {
		log.Warn("task interrupted by shutdown; it will run again when resent", "err", res.Error)
		return
	}
	if lost != nil {
		res = withReruns(res, t, lost, again) // custody.go
	}
	if err := r.a.journal.finish(id, res); err != nil {
		log.Error("cannot journal the task result; sending it anyway", "err", err)
	}
	if res.OK {
		log.Info("task succeeded")
	} else {
		log.Warn("task failed", "err", res.Error, "quarantine", res.Quarantine)
	}
	r.a.deliver(res.proto(id))
}

func (r *runner) dispatch(ctx context.Context, t *pb.AgentTask) *savedResult {
	ch, err := parseChallenge(t)
	if err != nil {
		return result(fmt.Errorf("the task's challenge: %w", err), nil)
	}
	switch k := t.GetKind().(type) {
	case *pb.AgentTask_Image:
		res := r.a.runImage(ctx, t.GetId(), k.Image, ch)
		r.a.imageWritten(k.Image, res)
		return res
	case *pb.AgentTask_Erase:
		r.a.diskErasing()
		return r.a.runErase(ctx, t.GetId(), k.Erase, ch)
	case *pb.AgentTask_Firmware:
		return r.a.runFirmware(ctx, t.GetId(), k.Firmware, ch)
	case *pb.AgentTask_Handout:
		return r.a.runHandout(ctx, t.GetId(), k.Handout, ch)
	case *pb.AgentTask_FirmwareProfile:
		return r.a.runFirmwareProfile(ctx, t.GetId(), k.FirmwareProfile, ch)
	}
	return &savedResult{Error: fmt.Sprintf("task kind %T not supported by this agent (older than the server?)", t.GetKind())}
}

// result builds a verdict with the evidence marshalled to JSON. A
// marshalling failure is folded into the error rather than dropped: the
// ledger must say that evidence is missing.
func result(err error, evidence any) *savedResult {
	r := &savedResult{OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	if evidence != nil {
		b, merr := json.Marshal(evidence)
		if merr != nil {
			msg := fmt.Sprintf("evidence not recorded: %v", merr)
			if r.Error != "" {
				msg = r.Error + "; " + msg
			}
			r.OK, r.Error = false, msg
		} else {
			r.EvidenceJSON = string(b)
		}
	}
	return r
}
