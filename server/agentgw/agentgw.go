// Package agentgw is the control plane's side of the node agents: it
// enrolls them (the cluster CA signs their CSR), serves their mutual-TLS
// task stream, carries the leader's tasks to them and their results into
// raft, and runs this server's member of the encrypted gossip pool that
// tells the leader which agents are alive.
package agentgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/ibex-hpc/ibex/internal/grpcwindow"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/replica"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Config is the gateway's part of ibexd's configuration.
type Config struct {
	Store replica.Store
	// Listen serves agents (enrollment and the task stream); empty
	// disables agents.
	Listen string
	// NodeID names this server in the gossip pool.
	NodeID string
	// GossipBind is this server's memberlist address; GossipSeeds other
	// servers' (agents get both from enrollment).
	GossipBind  string
	GossipSeeds []string
	Gossip      GossipTimings
	Log         *slog.Logger
}

// Gateway serves node agents on their own mutual-TLS listener.
type Gateway struct {
	pb.UnimplementedAgentsServer
	cfg Config
	lis net.Listener
	gs  atomic.Pointer[grpc.Server]

	gossipMu sync.Mutex
	gossip   *memberlist.Memberlist

	mu       sync.Mutex
	sessions map[string]*agentSession // by node

	enrollLimit *peerLimiter // unauthenticated Enroll calls per peer

	execs execRegistry // exec.go
	jobs  *jobCache    // jobs.go
	gates resultGates  // results held for their task's record (ahead.go)
}

// agentSession is one connected agent's stream.
type agentSession struct {
	node string
	send chan *pb.AgentTask
	sent map[string]bool // task ids sent on this stream
	prog *pb.TaskProgress
	gone chan struct{} // closed when the stream's receive loop ends (exec.go)
}

// Start opens the agent listener and joins the gossip pool, each once the
// cluster CA and gossip key are replicated here.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.Gossip.ProbeInterval == 0 {
		cfg.Gossip = DefaultGossipTimings
	}
	a := &Gateway{cfg: cfg, sessions: map[string]*agentSession{}, enrollLimit: newPeerLimiter(5, 20), jobs: newJobCache()}
	if err := a.listen(ctx); err != nil {
		return nil, err
	}
	a.startGossip(ctx)
	return a, nil
}

// listen waits for the cluster CA to exist (the leader creates it at
// bootstrap), then serves the Agents service with TLS.
func (a *Gateway) listen(ctx context.Context) error {
	if a.cfg.Listen == "" {
		return nil
	}
	lis, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent listener %s: %w", a.cfg.Listen, err)
	}
	a.lis = lis
	go func() {
		c, err := pki.Wait(ctx, a.cfg.Store)
		if err != nil {
			if ctx.Err() == nil {
				a.cfg.Log.Error("agent listener: no cluster CA", "err", err)
			}
			lis.Close()
			return
		}
		host := lis.Addr().(*net.TCPAddr).IP
		tlsCfg, err := c.ServerTLS(host, net.IPv4(127, 0, 0, 1))
		if err != nil {
			a.cfg.Log.Error("agent listener TLS", "err", err)
			return
		}
		opts := append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(tlsCfg)), unbufferedWrites()}, keepaliveOptions()...)
		gs := grpc.NewServer(append(opts, grpcwindow.ServerOptions()...)...) // no flow-control PINGs per message
		pb.RegisterAgentsServer(gs, a)
		a.gs.Store(gs)
		if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			a.cfg.Log.Error("agent listener", "err", err)
		}
	}()
	return nil
}

// Addrs are the agent listener's addresses (none when agents are off).
func (a *Gateway) Addrs() []string {
	if a.lis == nil {
		return nil
	}
	return []string{a.lis.Addr().String()}
}

// Stop closes the listener, the streams and the gossip member.
func (a *Gateway) Stop() {
	if gs := a.gs.Load(); gs != nil {
		gs.Stop()
	} else if a.lis != nil {
		a.lis.Close()
	}
	a.gossipMu.Lock()
	if a.gossip != nil {
		a.gossip.Leave(time.Second)
		a.gossip.Shutdown()
		a.gossip = nil
	}
	a.gossipMu.Unlock()
}

func (a *Gateway) Enroll(ctx context.Context, req *pb.EnrollRequest) (*pb.EnrollResponse, error) {
	if req.Node == "" || req.JoinToken == "" || len(req.CsrPem) == 0 {
		return nil, status.Error(codes.InvalidArgument, "enroll needs node, join_token and csr_pem")
	}
	if !a.cfg.Store.IsLeader() {
		return nil, status.Errorf(codes.Unavailable, "not the leader; try another server")
	}
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok {
		peerAddr = p.Addr.String()
	}
	if !a.enrollLimit.allow(peerAddr, time.Now()) {
		return nil, status.Error(codes.ResourceExhausted, "too many refused enrollment attempts from this address; wait a few seconds")
	}
	if len(req.Node) > 253 || len(req.JoinToken) > 256 || len(req.CsrPem) > 16<<10 {
		return nil, status.Error(codes.InvalidArgument, "enroll request fields too large")
	}
	// The token first: a refused enrollment signs nothing and writes
	// nothing to raft.
	var tokErr error
	now := a.cfg.Store.Now()
	a.cfg.Store.Read(func(st *fsm.State) { tokErr = st.CheckJoinToken(req.Node, auth.HashToken(req.JoinToken), now) })
	if tokErr != nil {
		a.enrollLimit.fail(peerAddr, time.Now())
		a.cfg.Log.Warn("enrollment refused", "node", req.Node, "err", tokErr)
		return nil, convert.Status(tokErr)
	}
	c, err := pki.Current(a.cfg.Store)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	certPEM, serial, err := c.SignAgent(req.Node, req.CsrPem)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cmd := &fsm.Enroll{Node: req.Node, TokenHash: auth.HashToken(req.JoinToken), CertSerial: serial, Time: a.cfg.Store.Now()}
	if _, err := a.cfg.Store.Apply(ctx, cmd); err != nil {
		return nil, convert.Status(err)
	}
	a.cfg.Log.Info("agent enrolled", "node", req.Node, "serial", serial)
	sec, err := a.cfg.Store.ClusterSecrets()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &pb.EnrollResponse{CertPem: certPEM, CaPem: c.PEM, GossipKey: sec.GossipKey, GossipSeeds: a.GossipSeeds()}, nil
}

// agentIdentity checks the client certificate of a stream: issued by the
// CA (TLS did that), for an enrolled node, with the serial on record and
// not revoked.
func (a *Gateway) agentIdentity(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return "", status.Error(codes.Unauthenticated, "a client certificate from enrollment is required")
	}
	cert := ti.State.VerifiedChains[0][0]
	node, serial := cert.Subject.CommonName, cert.SerialNumber.Text(16)
	var err error
	a.cfg.Store.Read(func(st *fsm.State) {
		n, ok := st.Nodes[node]
		switch {
		case st.Revoked[serial] != "":
			err = status.Errorf(codes.PermissionDenied, "certificate of %s is revoked: %s", node, st.Revoked[serial])
		case !ok || n.Agent == nil || n.Agent.CertSerial != serial:
			err = status.Errorf(codes.PermissionDenied, "certificate %s is not the enrolled one for %s", serial, node)
		}
	})
	return node, err
}

func (a *Gateway) Connect(stream pb.Agents_ConnectServer) error {
	// Leadership first: a follower's copy of the state may not yet hold
	// an enrollment the leader just committed, and its refusal would
	// send a freshly enrolled agent into its long refused-retry wait.
	if !a.cfg.Store.IsLeader() {
		return status.Error(codes.Unavailable, "not the leader; try another server")
	}
	node, err := a.agentIdentity(stream.Context())
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil || hello.Node != node {
		return status.Error(codes.InvalidArgument, "the first message must be a hello from the certificate's node")
	}
	if err := a.helloJobs(node, hello); err != nil {
		return err
	}
	if cmd, err := inventoryCommand(node, hello.Inventory, a.cfg.Store.Now()); err == nil {
		if _, err := a.cfg.Store.Apply(stream.Context(), cmd); err != nil {
			return convert.Status(err)
		}
	}
	sess := &agentSession{node: node, send: make(chan *pb.AgentTask, 4), sent: map[string]bool{}, gone: make(chan struct{})}
	a.announceTerm(sess)
	a.mu.Lock()
	a.sessions[node] = sess
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		if a.sessions[node] == sess {
			delete(a.sessions, node)
		}
		a.mu.Unlock()
	}()
	a.cfg.Log.Info("agent connected", "node", node)
	errc := make(chan error, 1)
	go func() {
		defer a.endExecs(sess)
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			a.handle(stream.Context(), sess, m)
		}
	}()
	lead := time.NewTicker(leaderCheck)
	defer lead.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-lead.C:
			if err := a.stillLeader(node); err != nil {
				return err
			}
		case t := <-sess.send:
			if err := stream.Send(t); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

func (a *Gateway) handle(ctx context.Context, sess *agentSession, m *pb.AgentMessage) {
	if a.handleJob(sess, m) {
		return
	}
	switch {
	case m.GetExec() != nil:
		a.execEvent(ctx, sess, m.GetExec())
	case m.GetProgress() != nil:
		a.mu.Lock()
		sess.prog = m.GetProgress()
		a.mu.Unlock()
	case m.GetResult() != nil:
		r := m.GetResult()
		if !a.gates.await(ctx, r.Id) { // its record's commit first (ahead.go)
			return
		}
		var cmd fsm.Command = &fsm.TaskDone{Node: sess.node, TaskID: r.Id, OK: r.Ok, Quarantine: r.Quarantine, Error: r.Error, Evidence: r.EvidenceJson, Answer: r.AnswerJson, Time: a.cfg.Store.Now()}
		if handoutResult(r.Id) {
			cmd = &fsm.HandoutChecked{Node: sess.node, ID: r.Id, OK: r.Ok, Error: r.Error, Answer: r.AnswerJson, Evidence: r.EvidenceJson, Time: a.cfg.Store.Now()}
		}
		if _, err := a.cfg.Store.Apply(ctx, cmd); err != nil && !errors.Is(err, fsm.ErrConflict) {
			a.cfg.Log.Warn("task result", "node", sess.node, "task", r.Id, "err", err)
		}
		a.mu.Lock()
		sess.prog = nil
		a.mu.Unlock()
	}
}

// Dispatch sends task t to the node's agent unless this stream already
// carried it. It reports whether the agent is connected.
func (a *Gateway) Dispatch(node string, t *pb.AgentTask) bool {
	a.mu.Lock()
	sess, ok := a.sessions[node]
	if !ok {
		a.mu.Unlock()
		return false
	}
	if sess.sent[t.Id] {
		a.mu.Unlock()
		return true
	}
	sess.sent[t.Id] = true
	a.mu.Unlock()
	select {
	case sess.send <- t:
	case <-time.After(time.Second):
		a.mu.Lock()
		delete(sess.sent, t.Id)
		a.mu.Unlock()
	}
	return true
}

// Progress returns the node's current task progress, if reported.
func (a *Gateway) Progress(node string) *pb.TaskProgress {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.sessions[node]; ok {
		return s.prog
	}
	return nil
}

// Connected reports whether the node's agent holds a stream to this server.
func (a *Gateway) Connected(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.sessions[node]
	return ok
}
