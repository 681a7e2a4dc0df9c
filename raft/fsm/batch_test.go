package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func job(tenant, reqID string, n int) *SubmitJob {
	return &SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: n, TimeLimit: time.Minute, Argv: []string{"true"}, RequestID: reqID}, Time: t0}
}

func batchResults(t *testing.T, r Result) BatchResults {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("batch entry failed as a whole: %v", r.Err)
	}
	br, ok := r.Value.(BatchResults)
	if !ok {
		t.Fatalf("batch returned %T", r.Value)
	}
	return br
}

// A refused command in a batch fails alone: the commands before and after
// it commit, and each caller gets its own answer.
func TestBatchPartialFailure(t *testing.T) {
	f := harness(t, 4)
	br := batchResults(t, f.Apply(&Batch{Commands: []Command{
		job("alice", "", 1),
		job("mallory", "", 1), // no such tenant
		job("bob", "", 99),    // more nodes than exist
		job("bob", "", 2),
		&CancelJob{JobID: 42, By: "alice", Time: t0},
	}}))
	if len(br) != 5 {
		t.Fatalf("%d results for 5 commands", len(br))
	}
	if br[0].Err != nil || br[0].Value != uint64(1) {
		t.Errorf("first submit: %+v", br[0])
	}
	if !errors.Is(br[1].Err, ErrInvalid) && !errors.Is(br[1].Err, ErrNotFound) {
		t.Errorf("unknown tenant: %+v", br[1])
	}
	if br[2].Err == nil {
		t.Errorf("impossible job accepted: %+v", br[2])
	}
	if br[3].Err != nil || br[3].Value != uint64(2) {
		t.Errorf("submit after two refusals: %+v (ids must not be used up by refused commands)", br[3])
	}
	if !errors.Is(br[4].Err, ErrNotFound) {
		t.Errorf("cancel of a missing job: %+v", br[4])
	}
	s := f.View()
	if len(s.Jobs) != 2 || s.Jobs[1].Tenant != "alice" || s.Jobs[2].Tenant != "bob" || s.NextJobID != 3 {
		t.Fatalf("jobs after the batch: %v next %d", s.Jobs, s.NextJobID)
	}
	checkWorkIndex(t, f)
}

// Commands in one batch see each other in order: a cancel of a job the same
// batch submitted works, and one placed before the submission does not.
func TestBatchOrdering(t *testing.T) {
	f := harness(t, 4)
	br := batchResults(t, f.Apply(&Batch{Commands: []Command{
		&CancelJob{JobID: 1, By: "alice", Time: t0},
		job("alice", "", 1),
		&CancelJob{JobID: 1, By: "alice", Time: t0},
		job("alice", "", 1),
	}}))
	if !errors.Is(br[0].Err, ErrNotFound) {
		t.Errorf("cancel before the submit: %+v", br[0])
	}
	if br[1].Value != uint64(1) || br[2].Err != nil || br[3].Value != uint64(2) {
		t.Errorf("results %+v", br)
	}
	s := f.View()
	if s.Jobs[1].State != model.JobCancelled || s.Jobs[2].State != model.JobPending {
		t.Errorf("job 1 %s, job 2 %s", s.Jobs[1].State, s.Jobs[2].State)
	}
}

// Two submissions with one request id in one batch (a client's retry that
// reached the leader while its first try was still waiting to commit) make
// one job, and both get its id.
func TestBatchRequestIDIdempotency(t *testing.T) {
	f := harness(t, 4)
	br := batchResults(t, f.Apply(&Batch{Commands: []Command{
		job("alice", "r1", 1),
		job("bob", "r1", 1), // another tenant's r1 is another request
		job("alice", "r1", 1),
		job("alice", "r2", 1),
	}}))
	want := []uint64{1, 2, 1, 3}
	for i, w := range want {
		if br[i].Err != nil || br[i].Value != w {
			t.Errorf("command %d: %+v, want job %d", i, br[i], w)
		}
	}
	if n := len(f.View().Jobs); n != 3 {
		t.Errorf("%d jobs, want 3", n)
	}
	// A later entry retrying r1 still gets job 1.
	if v := must(t, f.Apply(job("alice", "r1", 1))); v != uint64(1) {
		t.Errorf("retry in a later entry: job %v", v)
	}
}

// randomCommands is a stream of commands of which many are refused
// (allocations of busy or unknown nodes, finishes of ended jobs, repeated
// request ids, cleanings of nodes that are not cleaning).
func randomCommands(rng *rand.Rand, n, nodes int) []Command {
	var out []Command
	for len(out) < n {
		id := uint64(1 + rng.Intn(n/4+1))
		switch rng.Intn(7) {
		case 0, 1:
			tenant := []string{"alice", "bob", "eve"}[rng.Intn(3)]
			req := ""
			if rng.Intn(2) == 0 {
				req = fmt.Sprintf("r%d", rng.Intn(20))
			}
			out = append(out, job(tenant, req, 1+rng.Intn(3)))
		case 2:
			var ns []string
			for k := 0; k < 1+rng.Intn(3); k++ {
				ns = append(ns, fmt.Sprintf("node%03d", 1+rng.Intn(nodes+2)))
			}
			out = append(out, &Allocate{JobID: id, Nodes: ns, Time: t0})
		case 3:
			out = append(out, &StartJob{JobID: id, Time: t0})
		case 4:
			out = append(out, &FinishJob{JobID: id, State: model.JobCompleted, Time: t0})
		case 5:
			out = append(out, &NodeCleaned{Node: fmt.Sprintf("node%03d", 1+rng.Intn(nodes)), JobID: id, Evidence: "ok", Time: t0})
		case 6:
			out = append(out, &CancelJob{JobID: id, By: "alice", Time: t0})
		}
	}
	return out
}

// A batch is applied exactly as its commands one entry each: same result
// for every command and the same state after every batch. The stream is
// random and full of refusals, so a handler that changed anything before
// refusing would show up as a difference.
func TestBatchEqualsOneEntryEach(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cmds := randomCommands(rng, 600, 8)
		one, batched := harness(t, 8), harness(t, 8)
		refused := 0
		for i := 0; i < len(cmds); {
			n := 1 + rng.Intn(40)
			if i+n > len(cmds) {
				n = len(cmds) - i
			}
			br := batchResults(t, batched.Apply(&Batch{Commands: cmds[i : i+n]}))
			for k := 0; k < n; k++ {
				want := one.Apply(cmds[i+k])
				if fmt.Sprint(want.Value) != fmt.Sprint(br[k].Value) || fmt.Sprint(want.Err) != fmt.Sprint(br[k].Err) {
					t.Fatalf("seed %d command %d (%T): batched %+v, alone %+v", seed, i+k, cmds[i+k], br[k], want)
				}
				if want.Err != nil {
					refused++
				}
			}
			if a, b := one.View().Hash(), batched.View().Hash(); a != b {
				t.Fatalf("seed %d: states differ after commands %d..%d", seed, i, i+n-1)
			}
			checkWorkIndex(t, batched)
			i += n
		}
		if refused == 0 || refused == len(cmds) {
			t.Fatalf("seed %d: %d of %d commands refused; the stream should mix both", seed, refused, len(cmds))
		}
	}
}

// A snapshot taken between batches restores to a state that goes on
// exactly like the one that was never interrupted.
func TestBatchSnapshotRestoreMidStream(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	cmds := randomCommands(rng, 400, 8)
	live := harness(t, 8)
	var restored *FSM
	for i, k := 0, 0; i < len(cmds); k++ {
		n := min(1+rng.Intn(30), len(cmds)-i)
		b := &Batch{Commands: cmds[i : i+n]}
		batchResults(t, live.Apply(b))
		if restored != nil {
			batchResults(t, restored.Apply(b))
		}
		i += n
		if k == 5 {
			var snap bytes.Buffer
			if err := WriteSnapshot(&snap, live.SnapshotState()); err != nil {
				t.Fatal(err)
			}
			restored = New()
			if err := restored.Restore(&snap); err != nil {
				t.Fatal(err)
			}
		}
	}
	if restored == nil {
		t.Fatal("the stream ended before the snapshot")
	}
	if live.View().Hash() != restored.View().Hash() {
		t.Fatal("the restored state diverged from the live one")
	}
	checkWorkIndex(t, restored)
}

// Batches do not nest, and ExpireRecords (which the raft adapter brackets
// for the archive entry by entry) never rides in one.
func TestBatchRefusesUnbatchable(t *testing.T) {
	for _, c := range []Command{&Batch{Commands: []Command{job("alice", "", 1)}}, &ExpireRecords{Before: t0}} {
		if _, err := Encode(&Batch{Commands: []Command{job("alice", "", 1), c}}); err == nil || !strings.Contains(err.Error(), "cannot be batched") {
			t.Errorf("batch holding %T encoded: %v", c, err)
		}
	}
	if _, err := Encode(&Batch{Commands: []Command{nil}}); err == nil {
		t.Error("batch holding nil encoded")
	}
	// Written by hand, as a corrupt or hostile log could hold them.
	for _, body := range []string{"97:2:{}", "96:2:{}", "3:99:{}", "3:2{}", "03:2:{}", ":2:{}", "3:2:{}x", "256:2:{}", "3:-1:{}", "3:99999999999999999999:{}"} {
		if _, err := Decode(append([]byte{byte(CmdBatch)}, body...)); err == nil {
			t.Errorf("batch body %q decoded", body)
		}
	}
	// Applied directly (FSM.Apply skips the wire), an unbatchable command
	// fails alone.
	f := harness(t, 2)
	br := batchResults(t, New().ApplyEntry(1, mustEncode(t, &Batch{})))
	if len(br) != 0 {
		t.Errorf("empty batch: %v", br)
	}
	res := f.state.applyBatchForTest(&Batch{Commands: []Command{&ExpireRecords{Before: t0}, job("alice", "", 1)}})
	if res[0].Err == nil || res[1].Err != nil {
		t.Errorf("results %+v", res)
	}
}

func (s *State) applyBatchForTest(b *Batch) BatchResults {
	v, _ := s.applyBatch(b)
	return v.(BatchResults)
}

func mustEncode(t *testing.T, c Command) []byte {
	t.Helper()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EncodeBatch of entries made by Encode is what encoding the Batch gives,
// and decodes back to the same commands.
func TestBatchWireRoundTrip(t *testing.T) {
	cmds := []Command{job("alice", "r1", 2), &NodeCleaned{Node: "node001", JobID: 1, Evidence: "ok\nline two", Time: t0}, &LabelNode{Node: "n", Features: []string{"gpu"}}}
	var entries [][]byte
	for _, c := range cmds {
		entries = append(entries, mustEncode(t, c))
	}
	a, err := EncodeBatch(entries)
	if err != nil {
		t.Fatal(err)
	}
	if b := mustEncode(t, &Batch{Commands: cmds}); !bytes.Equal(a, b) {
		t.Fatalf("EncodeBatch %q, Encode %q", a, b)
	}
	// The framing is printable; so is a batch of JSON commands (a
	// binary SubmitJob body, submitwire.go, is not).
	if j := mustEncode(t, &Batch{Commands: cmds[1:]}); bytes.ContainsAny(j[1:], "\n\x00") {
		t.Errorf("batch body is not printable on one line: %q", j)
	}
	d, err := Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	if again := mustEncode(t, d); !bytes.Equal(again, a) {
		t.Fatalf("round trip: %q != %q", again, a)
	}
}

// FuzzDecodeBatch: any bytes after the batch type byte either decode to a
// batch that encodes to an entry decoding to the same commands, or are
// refused with an error; never a panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`3:2:{}`))
	f.Add([]byte(`3:25:{"job":{"tenant":"alice"}}10:15:{"node":"n001"}`))
	f.Add([]byte(`97:0:`))
	f.Add([]byte(`1:0:`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		c, err := Decode(append([]byte{byte(CmdBatch)}, body...))
		if err != nil {
			return
		}
		b := c.(*Batch)
		e, err := Encode(b)
		if err != nil {
			t.Fatalf("decoded batch does not encode: %v", err)
		}
		c2, err := Decode(e)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if len(c2.(*Batch).Commands) != len(b.Commands) {
			t.Fatalf("%d commands, then %d", len(b.Commands), len(c2.(*Batch).Commands))
		}
		e2, _ := Encode(c2)
		if !bytes.Equal(e, e2) {
			t.Fatalf("encoding is not stable: %q then %q", e, e2)
		}
	})
}
