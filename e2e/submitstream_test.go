package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// Jobs.SubmitStream under faults (#17.2): the client library carries
// concurrent Submit calls of one process on a shared stream, so these
// tests share one client among many goroutines and check that the stream
// really carried submissions.

// TestHAKillLeaderMidSubmitStream kills the leader while a shared
// stream has submissions in flight: every acked job must exist on the
// new leader and on the restarted old one, no id may be acked twice, and
// the client must carry on over a new stream.
func TestHAKillLeaderMidSubmitStream(t *testing.T) {
	h := startHA(t, 3)
	c := h.Client()
	sub := submitter{pause: time.Microsecond}
	ctx, cancel := context.WithCancel(context.Background())
	wg := sub.run(ctx, c, 16)
	time.Sleep(time.Second)
	before := c.StreamedSubmits()
	if before == 0 {
		cancel()
		wg.Wait()
		t.Fatal("no submission went through the stream in the first second: the test would not exercise it")
	}
	old := h.Leader()
	killed := time.Now()
	h.Kill(old, syscall.SIGKILL)
	next := h.Leader()
	t.Logf("leader %s killed with the stream busy (%d streamed so far); %s leads after %s", old.ID, before, next.ID, time.Since(killed).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	after := c.StreamedSubmits()
	cancel()
	wg.Wait()
	if after == before {
		t.Errorf("no submission went through a stream after the failover (%d before)", before)
	}
	if len(sub.acked) < 100 {
		t.Fatalf("only %d submissions acknowledged (%d failed)", len(sub.acked), sub.fails)
	}
	sub.checkAllPresent(t, c)
	h.CheckNoDoubleAllocation(c)
	h.WaitConverged()
	h.Restart(old)
	h.WaitConverged()
	sub.checkAllPresent(t, h.One(old))
	t.Logf("%d acknowledged (%d on streams), %d failed calls", len(sub.acked), c.StreamedSubmits(), sub.fails)
}

// TestHALinearizableSubmitStream is TestHALinearizable with its clients
// sharing one client.Client, so that submissions go through the shared
// stream while the leader is killed, restarted, paused and resumed.
func TestHALinearizableSubmitStream(t *testing.T) {
	h := startHA(t, 3)
	c := h.Client()
	checkLinearizable(t, h, 16, func(int) *client.Client { return c })
	if c.StreamedSubmits() == 0 {
		t.Fatal("no submission went through the stream: the history did not exercise it")
	}
	t.Logf("%d submissions answered on a stream", c.StreamedSubmits())
}

// TestSubmitStreamThroughAFollower: a stream opened on a follower is
// piped to the leader, every submission acked with a job the leader
// has, and the header names the leader so the client can go there next.
func TestSubmitStreamThroughAFollower(t *testing.T) {
	h := startHA(t, 3)
	leader := h.Leader()
	follower := h.Follower(leader)
	oc := h.One(follower)
	ctx, cancel := context.WithTimeout(oc.Context(context.Background()), 20*time.Second)
	defer cancel()
	s, err := pb.NewJobsClient(oc.Conn).SubmitStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := s.Send(&pb.SubmitStreamRequest{Submissions: []*pb.StreamedSubmission{{Seq: uint64(i + 1), Job: &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour),
			Interactive: true, RequestId: fmt.Sprintf("via-follower-%d", i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var acks []*pb.SubmitAck
	for {
		resp, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, resp.Acks...)
	}
	if len(acks) != n {
		t.Fatalf("%d acks for %d submissions", len(acks), n)
	}
	hdr, err := s.Header()
	if err != nil {
		t.Fatal(err)
	}
	if hint := hdr.Get("ibex-leader-api"); len(hint) != 1 || hint[0] != leader.API {
		t.Errorf("header names the leader as %v, want %s", hint, leader.API)
	}
	lc := h.One(leader)
	for _, a := range acks {
		if a.Code != 0 {
			t.Fatalf("ack %+v", a)
		}
		gctx, gcancel := context.WithTimeout(lc.Context(context.Background()), 5*time.Second)
		_, err := lc.Jobs.Get(gctx, &pb.GetJobRequest{JobId: a.JobId})
		gcancel()
		if err != nil {
			t.Fatalf("job %d acked through the follower: %v", a.JobId, err)
		}
	}
}

// TestSubmitStreamFollowerPipeEndsWithTheLeader: a stream piped through
// a follower ends when the leader dies, even while its client sends
// nothing and only waits, so the client learns it must go elsewhere
// instead of waiting out its deadline.
func TestSubmitStreamFollowerPipeEndsWithTheLeader(t *testing.T) {
	h := startHA(t, 3)
	leader := h.Leader()
	follower := h.Follower(leader)
	oc := h.One(follower)
	ctx, cancel := context.WithTimeout(oc.Context(context.Background()), 60*time.Second)
	defer cancel()
	s, err := pb.NewJobsClient(oc.Conn).SubmitStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&pb.SubmitStreamRequest{Submissions: []*pb.StreamedSubmission{{Seq: 1, Job: &pb.SubmitRequest{NumNodes: 1,
		TimeLimit: durationpb.New(time.Hour), Interactive: true, RequestId: "before-kill"}}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := s.Recv(); err != nil || len(resp.Acks) != 1 || resp.Acks[0].Code != 0 {
		t.Fatalf("first ack: %v, %v", resp, err)
	}
	h.Kill(leader, syscall.SIGKILL)
	_, err = s.Recv()
	if err == nil || status.Code(err) == codes.DeadlineExceeded {
		t.Fatalf("after the leader died the piped stream gave %v; want it ended by the follower", err)
	}
	t.Logf("the piped stream ended: %v", err)
}
