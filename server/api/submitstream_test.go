package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ibex-hpc/ibex/fabric/topology"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// streamAll sends reqs on one SubmitStream without waiting, perMsg to a
// message, closes its side and returns the acks by seq, and the stream's
// final error.
func streamAll(t *testing.T, ctx context.Context, jobs pb.JobsClient, perMsg int, reqs []*pb.StreamedSubmission) (map[uint64]*pb.SubmitAck, error) {
	t.Helper()
	s, err := jobs.SubmitStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for len(reqs) > 0 {
		n := min(perMsg, len(reqs))
		if err := s.Send(&pb.SubmitStreamRequest{Submissions: reqs[:n]}); err != nil {
			break // the server ended the stream: Recv says why
		}
		reqs = reqs[n:]
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	acks := map[uint64]*pb.SubmitAck{}
	for {
		resp, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return acks, nil
		}
		if err != nil {
			return acks, err
		}
		for _, a := range resp.Acks {
			if acks[a.Seq] != nil {
				t.Errorf("seq %d acked twice: %+v, then %+v", a.Seq, acks[a.Seq], a)
			}
			acks[a.Seq] = a
		}
	}
}

// TestSubmitStreamAcksEachOnItsOwn: every submission on the stream gets
// its own ack; accepted ones become the caller's jobs; a refused one gets
// exactly the code and message a unary Submit gets and writes nothing; a
// retry of a request id returns the first job's id.
func TestSubmitStreamAcksEachOnItsOwn(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	tooBig := oneNode("big")
	tooBig.NumNodes = 9
	noLimit := oneNode("nolimit")
	noLimit.TimeLimit = nil
	badName := oneNode("badname")
	badName.Name = "a\x00b"
	reqs := []*pb.StreamedSubmission{{Seq: 1, Job: oneNode("a")}, {Seq: 2, Job: tooBig}, {Seq: 3, Job: oneNode("b")},
		{Seq: 4, Job: noLimit}, {Seq: 5, Job: badName}, {Seq: 6}}
	acks, err := streamAll(t, h.ctx(), h.jobs, 1, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != len(reqs) {
		t.Fatalf("%d acks for %d submissions: %v", len(acks), len(reqs), acks)
	}
	a, b := acks[1], acks[3]
	if a.Code != 0 || b.Code != 0 || a.JobId == 0 || b.JobId == 0 || a.JobId == b.JobId {
		t.Fatalf("accepted submissions: %+v, %+v", a, b)
	}
	cmds := h.store.Applied()
	// What the stream wrote: only the accepted submissions, as SubmitJobs
	// alone or in a batch.
	var written []string
	for _, c := range cmds {
		switch c := c.(type) {
		case *fsm.SubmitJob:
			written = append(written, c.Job.RequestID)
		case *fsm.Batch:
			for _, x := range c.Commands {
				written = append(written, x.(*fsm.SubmitJob).Job.RequestID)
			}
		default:
			t.Errorf("the stream wrote %T", c)
		}
	}
	if fmt.Sprint(written) != "[a b]" && fmt.Sprint(written) != "[b a]" {
		t.Errorf("wrote submissions %v, want a and b only", written)
	}
	for _, seq := range []uint64{2, 4, 5} {
		_, unary := h.jobs.Submit(h.ctx(), reqs[seq-1].Job)
		st := status.Convert(unary)
		if got := acks[seq]; got.JobId != 0 || codes.Code(got.Code) != st.Code() || got.Error != st.Message() || st.Code() == codes.OK {
			t.Errorf("submission %d: ack %+v; unary Submit said %v", seq, got, unary)
		}
	}
	if got := acks[6]; codes.Code(got.Code) != codes.InvalidArgument || got.JobId != 0 {
		t.Errorf("a message without a job: %+v", got)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Errorf("refused unary submissions wrote %d commands", len(cmds))
	}
	var owner string
	h.store.Read(func(st *fsm.State) { owner = st.Jobs[a.JobId].Tenant })
	if owner != "alice" {
		t.Errorf("job %d belongs to %q, want the stream's caller alice", a.JobId, owner)
	}

	// A retry on a new stream: the same ids, and no new job.
	again, err := streamAll(t, h.ctx(), h.jobs, 2, []*pb.StreamedSubmission{{Seq: 7, Job: oneNode("b")}, {Seq: 8, Job: oneNode("a")}})
	if err != nil {
		t.Fatal(err)
	}
	if again[7].JobId != b.JobId || again[8].JobId != a.JobId {
		t.Errorf("retries answered %+v and %+v, want jobs %d and %d", again[7], again[8], b.JobId, a.JobId)
	}
	var n int
	h.store.Read(func(st *fsm.State) { n = len(st.Jobs) })
	if n != 2 {
		t.Errorf("%d jobs after the retries, want 2", n)
	}
}

// TestSubmitStreamManyInFlight: hundreds of submissions sent without
// waiting each get their own ack, with a job id that exists; the 100
// that reuse a request id, often in the same commit unit as the first,
// are answered with the first one's id and make no job.
func TestSubmitStreamManyInFlight(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 4})
	var reqs []*pb.StreamedSubmission
	for i := range 600 {
		reqs = append(reqs, &pb.StreamedSubmission{Seq: uint64(i + 1), Job: oneNode(fmt.Sprintf("r%d", i%500))})
	}
	acks, err := streamAll(t, h.ctx(), h.jobs, 7, reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 600 {
		t.Fatalf("%d acks for 600 submissions", len(acks))
	}
	byReq := map[string]uint64{}
	ids := map[uint64]bool{}
	for i, r := range reqs {
		a := acks[r.Seq]
		if a.Code != 0 || a.JobId == 0 {
			t.Fatalf("submission %d: %+v", i, a)
		}
		if prev, ok := byReq[r.Job.RequestId]; ok && prev != a.JobId {
			t.Errorf("request id %s answered %d and %d", r.Job.RequestId, prev, a.JobId)
		}
		byReq[r.Job.RequestId] = a.JobId
		ids[a.JobId] = true
	}
	var n int
	h.store.Read(func(st *fsm.State) {
		n = len(st.Jobs)
		for id := range ids {
			if st.Jobs[id] == nil {
				t.Errorf("acked job %d is not in the state", id)
			}
		}
	})
	if n != 500 || len(ids) != 500 {
		t.Errorf("%d jobs, %d distinct ids acked; want 500 (100 submissions retried a request id)", n, len(ids))
	}
}

// TestSubmitStreamNeedsAToken: a stream without a valid token is refused
// before any submission is read, and writes nothing.
func TestSubmitStreamNeedsAToken(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	acks, err := streamAll(t, context.Background(), h.jobs, 1, []*pb.StreamedSubmission{{Seq: 1, Job: oneNode("x")}})
	if status.Code(err) != codes.Unauthenticated || len(acks) != 0 {
		t.Errorf("no token: acks %v, %v", acks, err)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Errorf("an unauthenticated stream wrote %d commands", len(cmds))
	}
}

// TestSubmitStreamMessageCap: a message with more submissions than
// maxStreamMessage ends the stream with InvalidArgument, and none of
// them is written.
func TestSubmitStreamMessageCap(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	var reqs []*pb.StreamedSubmission
	for i := range maxStreamMessage + 1 {
		reqs = append(reqs, &pb.StreamedSubmission{Seq: uint64(i + 1), Job: oneNode(fmt.Sprint(i))})
	}
	acks, err := streamAll(t, h.ctx(), h.jobs, len(reqs), reqs)
	if status.Code(err) != codes.InvalidArgument || len(acks) != 0 {
		t.Errorf("%d submissions in one message: %d acks, %v", len(reqs), len(acks), err)
	}
	if cmds := h.store.Applied(); len(cmds) != 0 {
		t.Errorf("an oversized message wrote %d commands", len(cmds))
	}
}

// FuzzSubmitStream sends arbitrary wire bytes as SubmitStream messages
// (each input cut into up to three messages): the stream must end
// without Internal or Unknown, every submission read must get exactly one
// ack (streamAll fails on a second), and what the FSM holds afterwards
// must be exactly the acked jobs: a refused submission writes nothing.
func FuzzSubmitStream(f *testing.F) {
	one, _ := proto.Marshal(&pb.SubmitStreamRequest{Submissions: []*pb.StreamedSubmission{{Seq: 1, Job: oneNode("a")}}})
	f.Add(one, []byte{}, []byte{})
	two, _ := proto.Marshal(&pb.SubmitStreamRequest{Submissions: []*pb.StreamedSubmission{{Seq: 1, Job: oneNode("a")}, {Seq: 1, Job: oneNode("")}, {Seq: 2}}})
	f.Add(two, one, []byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, m1, m2, m3 []byte) {
		h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 2, NodesPerLeaf: 2})
		var subs []*pb.StreamedSubmission
		for _, m := range [][]byte{m1, m2, m3} {
			var req pb.SubmitStreamRequest
			if proto.Unmarshal(m, &req) != nil {
				return
			}
			subs = append(subs, req.Submissions...)
		}
		if len(subs) > 64 {
			return
		}
		for i, s := range subs { // streamAll keys acks by seq: make them unique
			if s == nil {
				return
			}
			s.Seq = uint64(i + 1)
		}
		acks, err := streamAll(t, h.ctx(), h.jobs, 1+len(m1)%3, subs)
		switch status.Code(err) {
		case codes.Internal, codes.Unknown:
			t.Fatalf("stream of %d submissions: %v", len(subs), err)
		}
		if err == nil && len(acks) != len(subs) {
			t.Fatalf("%d acks for %d submissions", len(acks), len(subs))
		}
		acked := map[uint64]bool{}
		for _, a := range acks {
			if a.Code == 0 {
				acked[a.JobId] = true
			}
		}
		h.store.Read(func(st *fsm.State) {
			if len(st.Jobs) != len(acked) {
				t.Fatalf("%d jobs in the state, %d acked", len(st.Jobs), len(acked))
			}
			for id := range acked {
				if st.Jobs[id] == nil {
					t.Fatalf("acked job %d is not in the state", id)
				}
			}
		})
	})
}
