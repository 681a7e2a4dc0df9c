package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// submitServer answers a Submit with 1000 + the number in the request
// id, unary and, when streams is set, on SubmitStream; breakAfter > 0
// makes each stream end with Unavailable, unacked, once it has read that
// many submissions, as a leader that died would.
type submitServer struct {
	jobsServer
	streams    bool
	breakAfter int
	hang       bool // read submissions, never answer, never end (a paused server)
	hungOn     atomic.Int64
	unary      atomic.Int64
	streamed   atomic.Int64
}

func idFor(req *pb.SubmitRequest) uint64 {
	n, _ := strconv.Atoi(strings.TrimPrefix(req.RequestId, "r"))
	return uint64(1000 + n)
}

func (s *submitServer) Submit(ctx context.Context, req *pb.SubmitRequest) (*pb.SubmitResponse, error) {
	s.unary.Add(1)
	return &pb.SubmitResponse{JobId: idFor(req)}, nil
}

func (s *submitServer) SubmitStream(stream pb.Jobs_SubmitStreamServer) error {
	if !s.streams {
		return status.Error(codes.Unimplemented, "unknown method SubmitStream")
	}
	read := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if s.hang {
			s.hungOn.Add(int64(len(req.Submissions)))
			continue
		}
		resp := &pb.SubmitStreamResponse{}
		for _, sub := range req.Submissions {
			if read++; s.breakAfter > 0 && read > s.breakAfter {
				return status.Error(codes.Unavailable, "leader gone")
			}
			s.streamed.Add(1)
			resp.Acks = append(resp.Acks, &pb.SubmitAck{Seq: sub.Seq, JobId: idFor(sub.Job)})
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// submitAll runs n Submit calls from workers goroutines at once; call i
// carries request id "r<i>" unless noID. It returns each call's job id
// (0 on error) and the errors.
func submitAll(t *testing.T, c *Client, workers, n int, noID bool) ([]uint64, []error) {
	t.Helper()
	ids, errs := make([]uint64, n), make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				req := &pb.SubmitRequest{NumNodes: 1}
				if !noID {
					req.RequestId = fmt.Sprintf("r%d", i)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := c.Jobs.Submit(c.Context(ctx), req)
				cancel()
				if err != nil {
					errs[i] = err
					continue
				}
				ids[i] = resp.JobId
			}
		})
	}
	wg.Wait()
	return ids, errs
}

// TestConcurrentSubmitsShareAStream: concurrent Submit calls go on one
// stream once it is up, and each call gets its own submission's answer.
func TestConcurrentSubmitsShareAStream(t *testing.T) {
	s := &submitServer{streams: true}
	addr, _ := serveSubmits(t, s)
	c, err := New(addr, "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, errs := submitAll(t, c, 32, 3000, false)
	for i := range ids {
		if errs[i] != nil || ids[i] != uint64(1000+i) {
			t.Fatalf("call %d: job %d, %v; want job %d", i, ids[i], errs[i], 1000+i)
		}
	}
	if c.StreamedSubmits() == 0 || s.streamed.Load() == 0 {
		t.Fatalf("no submission went on the stream (%d unary)", s.unary.Load())
	}
	if got := uint64(s.streamed.Load()); got != c.StreamedSubmits() {
		t.Errorf("server read %d on streams, client counted %d", got, c.StreamedSubmits())
	}
	t.Logf("%d on the stream, %d unary", c.StreamedSubmits(), s.unary.Load())

	// One call at a time never opens a stream: a fresh client submits
	// one after another, unary.
	one := &submitServer{streams: true}
	addr1, _ := serveSubmits(t, one)
	c1, err := New(addr1, "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if _, errs := submitAll(t, c1, 1, 20, false); errs[19] != nil {
		t.Fatal(errs[19])
	}
	if one.streamed.Load() != 0 || one.unary.Load() != 20 {
		t.Errorf("sequential calls: %d streamed, %d unary; want all 20 unary", one.streamed.Load(), one.unary.Load())
	}
}

// TestSubmitWithoutStreamSupport: a server without SubmitStream (an
// older ibexd) gets every call unary, and every call succeeds.
func TestSubmitWithoutStreamSupport(t *testing.T) {
	s := &submitServer{}
	addr, _ := serveSubmits(t, s)
	c, err := New(addr, "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, errs := submitAll(t, c, 16, 500, false)
	for i := range ids {
		if errs[i] != nil || ids[i] != uint64(1000+i) {
			t.Fatalf("call %d: job %d, %v", i, ids[i], errs[i])
		}
	}
	if s.unary.Load() != 500 || c.StreamedSubmits() != 0 {
		t.Errorf("%d unary calls, %d streamed; want 500 unary", s.unary.Load(), c.StreamedSubmits())
	}
}

// TestBrokenStreamRetriesOnlyWhatIsSafe: when the stream ends without
// acks, calls with a request id are retried unary and succeed; a call
// without one fails with Unavailable, saying it may have been submitted,
// rather than risk a second job.
func TestBrokenStreamRetriesOnlyWhatIsSafe(t *testing.T) {
	s := &submitServer{streams: true, breakAfter: 5}
	addr, _ := serveSubmits(t, s)
	c, err := New(addr, "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, errs := submitAll(t, c, 16, 2000, false)
	for i := range ids {
		if errs[i] != nil || ids[i] != uint64(1000+i) {
			t.Fatalf("with request ids, call %d: job %d, %v", i, ids[i], errs[i])
		}
	}
	_, errs = submitAll(t, c, 16, 2000, true)
	ambiguous := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "may or may not") {
			t.Fatalf("without request ids: %v", err)
		}
		ambiguous++
	}
	if ambiguous == 0 {
		t.Errorf("no call without a request id met a broken stream (%d streamed): the test did not exercise it", c.StreamedSubmits())
	}
	t.Logf("%d of 2000 calls without a request id failed as ambiguous", ambiguous)
}

func serveSubmits(t *testing.T, s *submitServer) (string, *grpc.Server) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterJobsServer(gs, s)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), gs
}

// TestHungStreamIsGivenUp: a stream that takes submissions and never
// answers (a paused server) is given up after streamStall, and its calls
// with request ids are answered unary, well before their own deadlines.
func TestHungStreamIsGivenUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out streamStall")
	}
	s := &submitServer{streams: true, hang: true}
	addr, _ := serveSubmits(t, s)
	c, err := New(addr, "tok", WithPlaintext())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Two callers at a time until the stream is open (their calls go
	// unary meanwhile).
	for open := false; !open; {
		submitAll(t, c, 2, 2, false)
		c.sub.mu.Lock()
		open = len(c.sub.streams) > 0
		c.sub.mu.Unlock()
	}
	ids, errs := make([]uint64, 64), make([]error, 64)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			// Each call may wait out the stall once, and then a second
			// stream's, but not its deadline.
			ctx, cancel := context.WithTimeout(context.Background(), 4*streamStall)
			defer cancel()
			resp, err := c.Jobs.Submit(c.Context(ctx), &pb.SubmitRequest{NumNodes: 1, RequestId: fmt.Sprintf("r%d", i)})
			if err == nil {
				ids[i] = resp.JobId
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != uint64(1000+i) {
			t.Fatalf("call %d: job %d, %v", i, ids[i], errs[i])
		}
	}
	if c.StreamedSubmits() != 0 || s.hungOn.Load() == 0 {
		t.Errorf("%d answered on a stream that never answers; it read %d: want 0 and some", c.StreamedSubmits(), s.hungOn.Load())
	}
}
