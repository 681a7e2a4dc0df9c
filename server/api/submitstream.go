package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Jobs.SubmitStream (#17.2): a unary Submit pays for an HTTP/2 stream, its
// headers, an authentication and a trip through the interceptors, about
// 150 µs of CPU over the client and the three servers, which caps two
// cores near 13,000 submissions/s whatever raft does. On one stream a
// submission costs one small message each way: the stream is set up and
// the caller authenticated once, and the submissions that arrive while a
// commit is in flight go to group commit together as one unit.
//
// Every submission is still checked exactly as Submit checks it
// (prepareSubmit: the same validation, tenant limits, request-id retries;
// a refused one writes nothing) and acked only once its entry committed.

const (
	// maxStreamInFlight bounds the submissions of one stream that wait for
	// their ack; past it the stream stops reading, and HTTP/2 flow control
	// holds the client back. The stream's queues are made this long at
	// its start (about 24 KiB).
	maxStreamInFlight = 1024
	// maxStreamUnit bounds the submissions committed as one unit.
	maxStreamUnit = 256
	// maxStreamMessage bounds the submissions of one request message
	// (gRPC's 4 MiB bounds its bytes), as maxSubmitMany bounds a call's.
	maxStreamMessage = maxSubmitMany
)

// streamJob is a checked submission waiting for its commit.
type streamJob struct {
	seq uint64
	job *model.Job
}

// SubmitStream answers each submission of the stream with its own ack.
func (j *jobsService) SubmitStream(stream pb.Jobs_SubmitStreamServer) (err error) {
	// Streams pass no interceptor, so no recoverUnary either.
	defer func() {
		if r := recover(); r != nil {
			j.a.cfg.Log.Error("panic in handler", "method", "SubmitStream", "panic", r, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error in SubmitStream")
		}
	}()
	caller, err := auth.Authenticate(stream.Context(), j.a.cfg.Store)
	if err != nil {
		return err
	}
	if !j.a.cfg.Cluster.IsLeader() {
		return j.forwardSubmitStream(stream)
	}
	s := &submitStream{j: j, stream: stream, token: auth.BearerToken(stream.Context()), caller: caller,
		slots: make(chan struct{}, maxStreamInFlight), jobs: make(chan streamJob, maxStreamInFlight),
		acks: make(chan *pb.SubmitStreamResponse, maxStreamInFlight), sent: make(chan struct{})}
	return s.run()
}

// submitStream is one SubmitStream on the leader: the handler's goroutine
// reads and checks submissions, a batcher hands what has queued to group
// commit as one unit, and a sender writes the acks.
type submitStream struct {
	j      *jobsService
	stream pb.Jobs_SubmitStreamServer
	token  string

	mu     sync.Mutex
	caller *model.Tenant
	lost   error // set once an apply found this server no longer leads

	slots   chan struct{} // one per submission awaiting its ack
	jobs    chan streamJob
	acks    chan *pb.SubmitStreamResponse // never blocks: one ack message at most per slot
	sent    chan struct{}                 // closed when the sender is done
	commits sync.WaitGroup
}

func (s *submitStream) run() error {
	ctx := s.stream.Context()
	go s.send()
	batched := make(chan struct{})
	go func() {
		defer close(batched)
		s.batch()
	}()
	err := s.receive()
	close(s.jobs)
	<-batched
	s.commits.Wait()
	close(s.acks)
	<-s.sent
	if err != nil {
		return err
	}
	if lost := s.lostLeadership(); lost != nil {
		return lost
	}
	return ctx.Err()
}

// receive reads submissions until the client closes its side, checking
// each as Submit does; a refused one is acked at once.
func (s *submitStream) receive() error {
	ctx := s.stream.Context()
	for {
		req, err := s.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if lost := s.lostLeadership(); lost != nil {
			return lost // these submissions were not taken: the client retries them
		}
		if !s.j.a.cfg.Cluster.IsLeader() { // stepped down with nothing in flight
			return status.Error(codes.Unavailable, "this server no longer leads; reopen the stream (submissions without an ack were not taken)")
		}
		if n := len(req.Submissions); n > maxStreamMessage {
			return status.Errorf(codes.InvalidArgument, "%d submissions in one stream message: at most %d; send the rest in further messages", n, maxStreamMessage)
		}
		for _, sub := range req.Submissions {
			select {
			case s.slots <- struct{}{}:
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
			if sub.GetJob() == nil {
				s.refuse(sub.GetSeq(), status.Error(codes.InvalidArgument, "a submission on the stream carries no job"))
				continue
			}
			job, err := s.j.prepareSubmit(auth.WithCaller(ctx, s.tenant()), sub.Job)
			if err != nil {
				s.refuse(sub.Seq, err)
				continue
			}
			s.jobs <- streamJob{seq: sub.Seq, job: job}
		}
	}
}

func (s *submitStream) tenant() *model.Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caller
}

func (s *submitStream) lostLeadership() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

func (s *submitStream) refuse(seq uint64, err error) {
	st := status.Convert(err)
	s.acks <- &pb.SubmitStreamResponse{Acks: []*pb.SubmitAck{{Seq: seq, Code: int32(st.Code()), Error: st.Message()}}}
}

// batch takes every checked submission that has queued (at most
// maxStreamUnit) and commits them as one unit, without waiting for the
// unit before: group commit merges the units of every stream.
func (s *submitStream) batch() {
	for first := range s.jobs {
		unit := []streamJob{first}
	more:
		for len(unit) < maxStreamUnit {
			select {
			case sj, ok := <-s.jobs:
				if !ok {
					break more
				}
				unit = append(unit, sj)
			default:
				break more
			}
		}
		// The token is checked again for each unit, so a tenant removed
		// while its stream is open stops submitting at its next unit, as
		// its next unary Submit would be refused.
		t := auth.TenantForToken(s.j.a.cfg.Store, s.token)
		if t == nil || t.Name != s.tenant().Name {
			for _, sj := range unit {
				s.refuse(sj.seq, status.Error(codes.Unauthenticated, "token not recognised"))
			}
			continue
		}
		s.commits.Add(1)
		go s.commit(unit)
	}
}

// commit applies one unit and sends its acks in one message.
func (s *submitStream) commit(unit []streamJob) {
	defer s.commits.Done()
	resp := &pb.SubmitStreamResponse{Acks: make([]*pb.SubmitAck, len(unit))}
	defer func() {
		if r := recover(); r != nil {
			s.j.a.cfg.Log.Error("panic in handler", "method", "SubmitStream", "panic", r, "stack", string(debug.Stack()))
			for i, sj := range unit {
				resp.Acks[i] = &pb.SubmitAck{Seq: sj.seq, Code: int32(codes.Internal), Error: "internal error in SubmitStream"}
			}
		}
		s.acks <- resp
	}()
	jobs := make([]*model.Job, len(unit))
	for i, sj := range unit {
		jobs[i] = sj.job
	}
	var ids []uint64
	var errs []error
	if len(jobs) == 1 { // alone, as its SubmitJob: what Submit commits
		errs = make([]error, 1)
		v, err := s.j.a.cfg.Store.Apply(s.stream.Context(), &fsm.SubmitJob{Job: *jobs[0], Time: s.j.a.cfg.Store.Now()})
		if err != nil {
			errs[0] = convert.Status(err)
		} else {
			ids = []uint64{v.(uint64)}
		}
	} else {
		var err error
		if ids, errs, err = s.j.commitSubmits(s.stream.Context(), jobs); err != nil {
			errs = make([]error, len(jobs))
			for i := range errs {
				errs[i] = err
			}
		}
	}
	for i, sj := range unit {
		a := &pb.SubmitAck{Seq: sj.seq}
		if errs[i] != nil {
			st := status.Convert(errs[i])
			a.Code, a.Error = int32(st.Code()), st.Message()
			if st.Code() == codes.Unavailable && !s.j.a.cfg.Cluster.IsLeader() {
				s.mu.Lock()
				if s.lost == nil {
					s.lost = status.Error(codes.Unavailable, "this server no longer leads; reopen the stream (submissions without an ack were not taken, or carry their own)")
				}
				s.mu.Unlock()
			}
		} else {
			a.JobId = ids[i]
		}
		resp.Acks[i] = a
	}
}

// send writes the acks, merging those that are ready into one message,
// and frees their slots; once the client is gone it only frees them.
func (s *submitStream) send() {
	defer close(s.sent)
	var failed bool
	for resp := range s.acks {
	merge:
		for len(resp.Acks) < maxStreamInFlight {
			select {
			case more, ok := <-s.acks:
				if !ok {
					break merge
				}
				resp.Acks = append(resp.Acks, more.Acks...)
			default:
				break merge
			}
		}
		if !failed && s.stream.Send(resp) != nil {
			failed = true
		}
		for range resp.Acks {
			<-s.slots
		}
	}
}

// commitSubmits commits checked jobs at one time stamp as one fsm.Batch,
// which group commit keeps whole and in order. err is a commit that failed as a whole (a gRPC status);
// otherwise ids[i] is job i's id when errs[i], the FSM's refusal of that
// one job, is nil.
func (j *jobsService) commitSubmits(ctx context.Context, jobs []*model.Job) (ids []uint64, errs []error, err error) {
	ids, errs = make([]uint64, len(jobs)), make([]error, len(jobs))
	now := j.a.cfg.Store.Now()
	batch := &fsm.Batch{Commands: make([]fsm.Command, len(jobs))}
	for i, job := range jobs {
		batch.Commands[i] = &fsm.SubmitJob{Job: *job, Time: now}
	}
	v, err := j.a.cfg.Store.Apply(ctx, batch)
	if err != nil {
		return nil, nil, convert.Status(err)
	}
	res, ok := v.(fsm.BatchResults)
	if !ok || len(res) != len(jobs) {
		return nil, nil, status.Errorf(codes.Internal, "a batch of %d submissions answered %T", len(jobs), v)
	}
	for i := range res {
		if res[i].Err != nil {
			errs[i] = convert.Status(res[i].Err)
			continue
		}
		id, ok := res[i].Value.(uint64)
		if !ok {
			errs[i] = status.Error(codes.Internal, fmt.Sprintf("submission answered %T", res[i].Value))
			continue
		}
		ids[i] = id
	}
	return ids, errs, nil
}

// forwardSubmitStream pipes a stream that reached a follower to the
// leader, message by message each way; the leader checks the caller and
// every submission again. The header names the leader, so a client can
// open its next stream there.
func (j *jobsService) forwardSubmitStream(stream pb.Jobs_SubmitStreamServer) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, mdForwarded) != "" {
		return status.Error(codes.Unavailable, "not the leader (forwarded request); retry")
	}
	addr := j.a.LeaderAPI()
	if addr == "" {
		return status.Error(codes.Unavailable, "no leader elected yet; retry shortly")
	}
	conn, err := j.a.fwd.conn(addr)
	if err != nil {
		return status.Errorf(codes.Unavailable, "connect to leader at %s: %v", addr, err)
	}
	_ = stream.SetHeader(metadata.Pairs(mdLeaderHint, addr))
	out := metadata.NewOutgoingContext(ctx, md.Copy())
	out = metadata.AppendToOutgoingContext(out, mdForwarded, j.a.cfg.NodeID)
	up, err := pb.NewJobsClient(conn).SubmitStream(out)
	if err != nil {
		return err
	}
	// Client to leader in a goroutine; leader to client here, so the
	// stream ends as soon as the leader's does, even while the client is
	// only waiting for acks. A client that goes away cancels out, and with
	// it the leader's stream.
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					_ = up.CloseSend()
				}
				return
			}
			if up.Send(req) != nil {
				return // the leader ended the stream: its Recv says why
			}
		}
	}()
	for {
		resp, err := up.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}
