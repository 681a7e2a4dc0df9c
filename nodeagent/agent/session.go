package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/internal/grpcwindow"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// stableAfter is how long a stream must stay up, if no task arrives, to
// count as a working connection that resets the back-off. Without it a
// server that accepts and at once drops every stream would be hammered at
// the minimum back-off.
const stableAfter = 10 * time.Second

// probeReadTimeout bounds how long probeTLS waits for the server's first
// bytes.
const probeReadTimeout = 2 * time.Second

// sessionBuffer bounds the results waiting to be sent on one stream.
const sessionBuffer = 16

// session is one open Connect stream: the channel the task runner hands
// results and progress to. Only the session's send loop calls Send, since
// a gRPC stream allows one sender at a time.
type session struct {
	results  chan *pb.TaskResult
	progress chan *pb.TaskProgress // latest report only
	exec     chan *pb.ExecEvent    // output of execs (exec.go)
	msgs     chan *pb.AgentMessage // job reports and output chunks (jobs.go)
}

func newSession() *session {
	return &session{results: make(chan *pb.TaskResult, sessionBuffer), progress: make(chan *pb.TaskProgress, 1),
		exec: make(chan *pb.ExecEvent, sessionBuffer), msgs: make(chan *pb.AgentMessage, jobMsgBuffer)}
}

func (s *session) sendLoop(ctx context.Context, stream pb.Agents_ConnectClient) error {
	for {
		var m *pb.AgentMessage
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-s.results:
			m = &pb.AgentMessage{Msg: &pb.AgentMessage_Result{Result: r}}
		case p := <-s.progress:
			m = &pb.AgentMessage{Msg: &pb.AgentMessage_Progress{Progress: p}}
		case e := <-s.exec:
			m = &pb.AgentMessage{Msg: &pb.AgentMessage_Exec{Exec: e}}
		case m = <-s.msgs:
		}
		if err := stream.Send(m); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
}

// offerProgress replaces any unsent report: progress is a gauge, only the
// latest value matters, and the copy path must never wait for the network.
func (s *session) offerProgress(p *pb.TaskProgress) {
	for {
		select {
		case s.progress <- p:
			return
		default:
		}
		select {
		case <-s.progress:
		default:
		}
	}
}

// deliver hands a result to the current stream. With no stream, or a full
// one, the result stays in the journal only: the server resends every task
// it has no result for, and the resend gets the stored result.
func (a *Agent) deliver(r *pb.TaskResult) {
	a.mu.Lock()
	s := a.sess
	a.mu.Unlock()
	if s == nil {
		a.log.Info("not connected; the result stays in the journal until the server resends the task", "task", r.GetId())
		return
	}
	select {
	case s.results <- r:
	default:
		a.log.Warn("send queue full; the result stays in the journal until the server resends the task", "task", r.GetId())
	}
}

// progress throttles one task's reports to Config.ProgressInterval.
type progress struct {
	a    *Agent
	id   string
	last time.Time
}

func (a *Agent) newProgress(id string) *progress { return &progress{a: a, id: id} }

func (p *progress) report(done, total uint64) {
	now := time.Now()
	if now.Sub(p.last) < p.a.cfg.ProgressInterval {
		return
	}
	p.last = now
	p.a.mu.Lock()
	s := p.a.sess
	p.a.mu.Unlock()
	if s != nil {
		s.offerProgress(&pb.TaskProgress{Id: p.id, Done: done, Total: total})
	}
}

// RefusedError says a server rejected the node's certificate: revoked, not
// issued by this cluster's CA, or expired. The agent keeps retrying, slowly
// (Config.RefusedRetry): a revocation can be undone, and a node that exits
// would be restarted by its service manager into the same refusal anyway.
// To re-enroll, remove node.crt from the data dir and start the agent
// with a new join token.
type RefusedError struct {
	Server string
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("server %s refused this node's certificate (revoked, expired or from another cluster): %v", e.Server, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// refused reports whether err means the server rejected the client
// certificate: an explicit Unauthenticated/PermissionDenied, or a TLS
// alert from the server (in TLS 1.3 the client finishes its handshake
// first, so the server's rejection arrives as an alert on the first read).
func refused(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied:
		return true
	}
	return err != nil && strings.Contains(err.Error(), "remote error: tls:")
}

// dialOptions are the gRPC options for the mTLS connection.
func (a *Agent) dialOptions(id *identity) []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(id.clientTLS(a.cfg.ServerName))),
		// Each report and result is one small message: written at once,
		// not after grpc-go's writer yielded (see agentgw's
		// unbufferedWrites; ~100 ms per message on a busy host).
		grpc.WithWriteBufferSize(0)}
	opts = append(opts, grpcwindow.DialOptions()...) // no flow-control PINGs per message
	if a.cfg.Keepalive > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: a.cfg.Keepalive, Timeout: a.cfg.Keepalive / 2}))
	}
	return opts
}

var errDialTimeout = errors.New("timed out connecting")

// session runs one Connect stream against addr: send the Hello, then
// hand every task to the runner until the stream breaks. established is
// true when the stream worked (a task arrived or it stayed up for
// stableAfter), which resets the back-off.
func (a *Agent) session(ctx context.Context, addr string, id *identity) (established bool, err error) {
	inv, ierr := a.inventory(ctx)
	if ierr != nil {
		a.log.Warn("partial inventory", "err", ierr)
	}
	conn, err := grpc.NewClient(addr, a.dialOptions(id)...)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancelCause(ctx)
	defer func() {
		cancel(nil)
		a.waitExecs() // the stream's execs die with it (exec.go)
	}()
	timer := time.AfterFunc(a.cfg.DialTimeout, func() { cancel(errDialTimeout) })
	stream, err := pb.NewAgentsClient(conn).Connect(sctx)
	if err == nil {
		err = stream.Send(&pb.AgentMessage{Msg: &pb.AgentMessage_Hello{Hello: a.hello(inv)}})
		if errors.Is(err, io.EOF) {
			// The server ended the stream (e.g. refused the node); Recv
			// has its status.
			_, err = stream.Recv()
		}
	}
	if !timer.Stop() {
		err = errDialTimeout
	}
	if err != nil {
		return false, a.sessionErr(ctx, addr, id, err)
	}
	start := time.Now()
	s := newSession()
	a.setSession(s)
	defer a.setSession(nil)
	go func() {
		// io.EOF means the server ended the stream; Recv below returns
		// its status, which says more than the failed send.
		if err := s.sendLoop(sctx, stream); !errors.Is(err, io.EOF) {
			cancel(err)
		}
	}()
	a.log.Info("connected", "server", addr)
	a.mu.Lock()
	g := a.gossip
	a.mu.Unlock()
	if g != nil {
		g.RequestJoin() // the server may have restarted (gossip_rejoin.go)
	}
	for {
		t, err := stream.Recv()
		if err != nil {
			if cause := context.Cause(sctx); cause != nil && ctx.Err() == nil && !errors.Is(cause, context.Canceled) {
				err = cause // the send loop failed first
			}
			established = established || time.Since(start) >= stableAfter
			if established {
				return true, fmt.Errorf("%s: %w", addr, err)
			}
			return false, a.sessionErr(ctx, addr, id, err)
		}
		established = true
		a.receive(sctx, s, t)
	}
}

// sessionErr wraps the error of a stream that never worked, and decides
// whether the server refused the node. gRPC alone cannot always tell: in
// TLS 1.3 the server rejects a client certificate after the client's
// handshake is complete, and if gRPC's first write hits the closed socket
// the error is "broken pipe" with the alert lost. So an unexplained
// failure is followed by one plain TLS probe that only reads, which
// receives the alert intact.
func (a *Agent) sessionErr(ctx context.Context, addr string, id *identity, err error) error {
	if refused(err) {
		return &RefusedError{Server: addr, Err: err}
	}
	if ctx.Err() == nil {
		if perr := probeTLS(ctx, addr, id.clientTLS(a.cfg.ServerName), a.cfg.DialTimeout); refused(perr) {
			return &RefusedError{Server: addr, Err: perr}
		}
	}
	return fmt.Errorf("%s: %w", addr, err)
}

// probeTLS connects with cfg and waits for the server's first bytes: a
// gRPC server speaks first (its HTTP/2 SETTINGS), a server that rejected
// the certificate sends an alert instead, which Read returns as
// "remote error: tls: ...".
func probeTLS(ctx context.Context, addr string, cfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"} // gRPC servers refuse TLS without ALPN h2
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A rejection follows the client's Finished at once; waiting longer
	// would only delay the reconnect after an unrelated failure.
	conn.SetReadDeadline(time.Now().Add(min(timeout, probeReadTimeout)))
	_, err = conn.Read(make([]byte, 1))
	if err != nil && refused(err) {
		return err
	}
	return nil
}

func (a *Agent) setSession(s *session) {
	a.mu.Lock()
	a.sess = s
	a.mu.Unlock()
}

// connectLoop keeps a Connect stream open to some server for as long as
// ctx lives. After a failure it tries the next server at once; after a
// full round of failures it backs off (exponentially, with jitter). A
// stream that worked and then broke (a server restart, a leader change)
// is retried after the minimum back-off. A refused certificate waits
// RefusedRetry.
func (a *Agent) connectLoop(ctx context.Context, id *identity) {
	bo := newBackoff(a.cfg.BackoffMin, a.cfg.BackoffMax)
	n := len(a.cfg.Servers)
	cur, failed := 0, 0
	for ctx.Err() == nil {
		addr := a.cfg.Servers[cur]
		est, err := a.session(ctx, addr, id)
		if ctx.Err() != nil {
			return
		}
		if est {
			bo.reset()
			failed = 0
		} else {
			failed++
			cur = (cur + 1) % n
		}
		var wait time.Duration
		var refusal *RefusedError
		switch {
		case errors.As(err, &refusal):
			wait = a.cfg.RefusedRetry
			a.log.Error("certificate refused; to re-enroll remove "+certFile+" from the data dir and restart with a new join token",
				"err", err, "retry_in", wait)
		case est:
			wait = bo.next()
			a.log.Warn("stream broke, reconnecting", "err", err, "retry_in", wait)
		case failed%n != 0:
			a.log.Warn("cannot connect, trying the next server", "err", err)
		default:
			wait = bo.next()
			a.log.Warn("cannot connect to any server", "err", err, "retry_in", wait)
		}
		if sleepCtx(ctx, wait) != nil {
			return
		}
	}
}
