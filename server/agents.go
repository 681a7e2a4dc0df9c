package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// agentsService serves node agents on their own mutual-TLS listener.
type agentsService struct {
	pb.UnimplementedAgentsServer
	s *Server

	mu       sync.Mutex
	sessions map[string]*agentSession // by node
}

// agentSession is one connected agent's stream.
type agentSession struct {
	node string
	send chan *pb.AgentTask
	sent map[string]bool // task ids sent on this stream
	prog *pb.TaskProgress
}

func newAgentsService(s *Server) *agentsService {
	return &agentsService{s: s, sessions: map[string]*agentSession{}}
}

// startAgentListener waits for the cluster CA to exist (the leader creates
// it at bootstrap), then serves the Agents service with TLS.
func (a *agentsService) startAgentListener(ctx context.Context) error {
	if a.s.cfg.AgentListen == "" {
		return nil
	}
	lis, err := net.Listen("tcp", a.s.cfg.AgentListen)
	if err != nil {
		return fmt.Errorf("agent listener %s: %w", a.s.cfg.AgentListen, err)
	}
	a.s.agentLis = lis
	go func() {
		c, err := a.s.waitCA(ctx)
		if err != nil {
			lis.Close()
			return
		}
		host := lis.Addr().(*net.TCPAddr).IP
		tlsCfg, err := c.serverTLS(host, net.IPv4(127, 0, 0, 1))
		if err != nil {
			a.s.log.Error("agent listener TLS", "err", err)
			return
		}
		gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
		pb.RegisterAgentsServer(gs, a)
		a.s.agentGRPC.Store(gs)
		if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			a.s.log.Error("agent listener", "err", err)
		}
	}()
	return nil
}

func (a *agentsService) Enroll(ctx context.Context, req *pb.EnrollRequest) (*pb.EnrollResponse, error) {
	if req.Node == "" || req.JoinToken == "" || len(req.CsrPem) == 0 {
		return nil, status.Error(codes.InvalidArgument, "enroll needs node, join_token and csr_pem")
	}
	if !a.s.cluster.IsLeader() {
		return nil, status.Errorf(codes.Unavailable, "not the leader; try another server")
	}
	c, err := a.s.currentCA()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	certPEM, serial, err := c.signAgent(req.Node, req.CsrPem)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	cmd := &fsm.Enroll{Node: req.Node, TokenHash: HashToken(req.JoinToken), CertSerial: serial, Time: a.s.now()}
	if _, err := a.s.apply(ctx, cmd); err != nil {
		return nil, toStatus(err)
	}
	a.s.log.Info("agent enrolled", "node", req.Node, "serial", serial)
	st := a.s.fsm.View()
	return &pb.EnrollResponse{CertPem: certPEM, CaPem: c.pem, GossipKey: st.Secrets.GossipKey, GossipSeeds: a.s.gossipSeeds()}, nil
}

// agentIdentity checks the client certificate of a stream: issued by the
// CA (TLS did that), for an enrolled node, with the serial on record and
// not revoked.
func (a *agentsService) agentIdentity(ctx context.Context) (string, error) {
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
	a.s.fsm.Read(func(st *fsm.State) {
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

func (a *agentsService) Connect(stream pb.Agents_ConnectServer) error {
	node, err := a.agentIdentity(stream.Context())
	if err != nil {
		return err
	}
	if !a.s.cluster.IsLeader() {
		return status.Error(codes.Unavailable, "not the leader; try another server")
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil || hello.Node != node {
		return status.Error(codes.InvalidArgument, "the first message must be a hello from the certificate's node")
	}
	if inv, err := json.Marshal(hello.Inventory); err == nil {
		if _, err := a.s.apply(stream.Context(), &fsm.NodeInventory{Node: node, Inventory: string(inv)}); err != nil {
			return toStatus(err)
		}
	}
	sess := &agentSession{node: node, send: make(chan *pb.AgentTask, 4), sent: map[string]bool{}}
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
	a.s.log.Info("agent connected", "node", node)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			a.handle(stream.Context(), sess, m)
		}
	}()
	for {
		select {
		case err := <-errc:
			return err
		case t := <-sess.send:
			if err := stream.Send(t); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

func (a *agentsService) handle(ctx context.Context, sess *agentSession, m *pb.AgentMessage) {
	switch {
	case m.GetProgress() != nil:
		a.mu.Lock()
		sess.prog = m.GetProgress()
		a.mu.Unlock()
	case m.GetResult() != nil:
		r := m.GetResult()
		cmd := &fsm.TaskDone{Node: sess.node, TaskID: r.Id, OK: r.Ok, Quarantine: r.Quarantine, Error: r.Error, Evidence: r.EvidenceJson, Time: a.s.now()}
		if _, err := a.s.apply(ctx, cmd); err != nil && !errors.Is(err, fsm.ErrConflict) {
			a.s.log.Warn("task result", "node", sess.node, "task", r.Id, "err", err)
		}
		a.mu.Lock()
		sess.prog = nil
		a.mu.Unlock()
	}
}

// dispatch sends task t to the node's agent unless this stream already
// carried it. It reports whether the agent is connected.
func (a *agentsService) dispatch(node string, t *pb.AgentTask) bool {
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

// progress returns the node's current task progress, if reported.
func (a *agentsService) progress(node string) *pb.TaskProgress {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.sessions[node]; ok {
		return s.prog
	}
	return nil
}

func (a *agentsService) connected(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.sessions[node]
	return ok
}

// waitCA blocks until the cluster secrets are replicated here.
func (s *Server) waitCA(ctx context.Context) (*ca, error) {
	for {
		if c, err := s.currentCA(); err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) currentCA() (*ca, error) {
	st := s.fsm.View()
	if st.Secrets.CACertPEM == "" {
		return nil, errors.New("cluster CA not created yet")
	}
	return parseCA(st.Secrets)
}
