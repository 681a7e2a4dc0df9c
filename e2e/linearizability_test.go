package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// The model is one job at a time (histories are partitioned by job id): a
// job is "absent", "active" (pending, scheduled or running) or "ended"
// (cancelled or released). Every allocation in the test has a one-hour limit,
// so nothing but the clients' own calls can end one.
type opKind int

const (
	opSubmit opKind = iota
	opGet
	opCancel
	opRelease
)

type linInput struct {
	Kind opKind
	Job  uint64 // for get, cancel, release
}

// linOutput is nil when the call's outcome is unknown (timeout, no leader).
type linOutput struct {
	Job   uint64 // submit: the id returned
	OK    bool   // cancel/release: accepted; get: found
	State string // get: active or ended
}

var jobModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byJob := map[uint64][]porcupine.Operation{}
		for _, op := range history {
			in := op.Input.(linInput)
			id := in.Job
			if in.Kind == opSubmit {
				out, ok := op.Output.(*linOutput)
				if !ok || out == nil {
					continue // an unknown submit names no job the clients touch
				}
				id = out.Job
			}
			byJob[id] = append(byJob[id], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byJob {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{"absent"} },
	Step: func(state, input, output interface{}) []interface{} {
		st, in := state.(string), input.(linInput)
		out, _ := output.(*linOutput)
		switch in.Kind {
		case opSubmit:
			if st == "absent" {
				return []interface{}{"active"}
			}
		case opGet:
			if out == nil {
				return []interface{}{st}
			}
			if (st == "absent" && !out.OK) || (out.OK && out.State == st) {
				return []interface{}{st}
			}
		case opCancel, opRelease:
			switch {
			case out == nil && st == "active":
				return []interface{}{"active", "ended"}
			case out == nil:
				return []interface{}{st}
			case out.OK && st == "active":
				return []interface{}{"ended"}
			case !out.OK && st == "ended":
				return []interface{}{st}
			}
		}
		return nil
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(linInput)
		out, _ := output.(*linOutput)
		name := [...]string{"submit", "get", "cancel", "release"}[in.Kind]
		if out == nil {
			return fmt.Sprintf("%s(%d) -> ?", name, in.Job)
		}
		return fmt.Sprintf("%s(%d) -> %+v", name, in.Job, *out)
	},
}

// TestHALinearizable records a concurrent history of submit, get, cancel
// and release from several clients while the leader is killed, restarted,
// paused and resumed, and checks it with porcupine.
func TestHALinearizable(t *testing.T) {
	h := startHA(t, 3)
	checkLinearizable(t, h, 6, func(int) *client.Client { return h.Client() })
}

// checkLinearizable is TestHALinearizable's run with n clients, client
// cl calling through clientFor(cl).
func checkLinearizable(t *testing.T, h *testcluster.Cluster, n int, clientFor func(cl int) *client.Client) {
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		known   []uint64
	)
	record := func(client int, in linInput, call int64, out *linOutput) {
		ret := time.Now().UnixNano()
		op := porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
		if out == nil {
			op.Return = math.MaxInt64 // may take effect at any time after the call
		}
		mu.Lock()
		history = append(history, op)
		if in.Kind == opSubmit && out != nil {
			known = append(known, out.Job)
		}
		mu.Unlock()
	}
	pick := func(rng *rand.Rand) uint64 {
		mu.Lock()
		defer mu.Unlock()
		if len(known) == 0 {
			return 0
		}
		return known[rng.Intn(len(known))]
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for cl := 0; cl < n; cl++ {
		c := clientFor(cl)
		wg.Add(1)
		go func(cl int, c *client.Client) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(cl)))
			for i := 0; ctx.Err() == nil; i++ {
				in := linInput{Kind: opKind(rng.Intn(4))}
				if in.Kind != opSubmit {
					if in.Job = pick(rng); in.Job == 0 {
						in.Kind = opSubmit
					}
				}
				call := time.Now().UnixNano()
				record(cl, in, call, doOp(c, in, fmt.Sprintf("c%d-%d", cl, i)))
				time.Sleep(time.Duration(rng.Intn(20)) * time.Millisecond)
			}
		}(cl, c)
	}
	// Faults: kill the leader, bring it back, pause the next leader, resume.
	time.Sleep(time.Second)
	l := h.Leader()
	h.Kill(l, syscall.SIGKILL)
	time.Sleep(1500 * time.Millisecond)
	h.Restart(l)
	time.Sleep(time.Second)
	p := h.Leader()
	h.Kill(p, syscall.SIGSTOP)
	time.Sleep(1500 * time.Millisecond)
	h.Kill(p, syscall.SIGCONT)
	time.Sleep(time.Second)
	stop()
	wg.Wait()

	unknown := 0
	for _, op := range history {
		if op.Output.(*linOutput) == nil {
			unknown++
		}
	}
	t.Logf("%d operations on %d jobs, %d with unknown outcome", len(history), len(known), unknown)
	if len(known) < 10 {
		t.Fatalf("too few jobs for a meaningful check: %d", len(known))
	}
	model := jobModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, history, 60*time.Second)
	if res != porcupine.Ok {
		dir := os.Getenv("IBEX_TEST_ARTIFACTS")
		if dir == "" {
			dir = os.TempDir()
		}
		path := filepath.Join(dir, fmt.Sprintf("ibex-linearizability-%d.html", time.Now().Unix()))
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("visualize: %v", err)
		}
		logFailingPartitions(t, model, history)
		t.Fatalf("history is not linearizable (%s); visualization: %s", res, path)
	}
	h.WaitConverged()
}

// doOp performs one operation and returns its output, or nil if the
// outcome is unknown.
func doOp(c *client.Client, in linInput, reqID string) *linOutput {
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 5*time.Second)
	defer cancel()
	switch in.Kind {
	case opSubmit:
		resp, err := c.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour), Interactive: true, RequestId: reqID})
		if err != nil {
			return nil
		}
		return &linOutput{Job: resp.JobId}
	case opGet:
		j, err := c.Jobs.Get(ctx, &pb.GetJobRequest{JobId: in.Job})
		if status.Code(err) == codes.NotFound {
			return &linOutput{}
		}
		if err != nil {
			return nil
		}
		st := "active"
		if j.State == "cancelled" || j.State == "completed" {
			st = "ended"
		}
		return &linOutput{OK: true, State: st}
	case opCancel, opRelease:
		var err error
		if in.Kind == opCancel {
			_, err = c.Jobs.Cancel(ctx, &pb.CancelRequest{JobId: in.Job, RequestId: reqID})
		} else {
			_, err = c.Jobs.Release(ctx, &pb.ReleaseRequest{JobId: in.Job, RequestId: reqID})
		}
		switch status.Code(err) {
		case codes.OK:
			return &linOutput{OK: true}
		case codes.FailedPrecondition:
			return &linOutput{}
		}
		return nil
	}
	return nil
}

// logFailingPartitions prints the operations of each job whose history
// alone is not linearizable, in call order, for debugging.
func logFailingPartitions(t *testing.T, model porcupine.Model, history []porcupine.Operation) {
	start := history[0].Call
	for _, op := range history {
		start = min(start, op.Call)
	}
	shown := 0
	for _, part := range model.Partition(history) {
		if porcupine.CheckOperations(model, part) || shown >= 3 {
			continue
		}
		shown++
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		for _, op := range part {
			ret := "inf"
			if op.Return != math.MaxInt64 {
				ret = fmt.Sprint((op.Return - start) / 1e6)
			}
			t.Logf("  client %d [%d ms, %s ms] %s", op.ClientId, (op.Call-start)/1e6, ret, model.DescribeOperation(op.Input, op.Output))
		}
		t.Log("  --")
	}
}
