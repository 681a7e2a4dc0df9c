package server

// The REST API (server/rest) on the HTTP listener, and gRPC health
// checking and server reflection on the API listener.
//
// REST requests reach the gRPC services through an in-memory listener of
// the same grpc.Server, so they pass the same interceptors (token,
// forwarding, limits) as a gRPC client's; with TLS on, that connection is
// TLS too (verified against the cluster CA, no client certificate: the
// gateway is just another client holding the caller's bearer token).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/rest"
)

// LeaderHealthService is the health-check service name that is SERVING
// only on the leader (see healthStatus); "" and every API service name
// report whether this server can answer at all.
const LeaderHealthService = "ibex.leader"

// healthPrefix is the health service's method prefix: its calls skip the
// API's interceptors (a load balancer's probe has no token, and a health
// check must be answered by the server asked, never forwarded).
var healthPrefix = "/" + healthpb.Health_ServiceDesc.ServiceName + "/"

// unaryInterceptor chains the API's interceptors for every unary call but
// the health service's.
func (s *Server) unaryInterceptor() grpc.UnaryServerInterceptor {
	chain := chainUnary(s.api.Interceptors())
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, healthPrefix) {
			return h(ctx, req)
		}
		return chain(ctx, req, info, h)
	}
}

// chainUnary runs ics in order around the handler, as
// grpc.ChainUnaryInterceptor does.
func chainUnary(ics []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		next := h
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], next
			next = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, inner) }
		}
		return next(ctx, req)
	}
}

// startGRPCExtras registers health checking and reflection on the API's
// gRPC server, starts following leadership for the health status, and
// serves the gRPC server on the in-memory listener the REST gateway dials.
// Call it after every service is registered and before serving.
func (s *Server) startGRPCExtras() {
	s.health = grpchealth.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	for name := range s.grpc.GetServiceInfo() {
		if !strings.HasPrefix(name, "grpc.") {
			s.healthNames = append(s.healthNames, name)
		}
	}
	s.healthNames = append(s.healthNames, "")
	s.setHealth(healthStatus(false, false))
	s.healthStop = make(chan struct{})
	s.healthDone = make(chan struct{})
	go s.followHealth()

	s.inproc = bufconn.Listen(1 << 20)
	go func() {
		if err := s.grpc.Serve(s.inproc); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("grpc serve (in-process)", "err", err)
		}
	}()
}

// healthStatus is the health of this server given whether it leads and
// whether it knows a leader. A server that knows the leader answers every
// call (a follower forwards writes and consistent reads to it), so it is
// SERVING; with no leader known — an election, a lost quorum, a server
// that has not joined yet — writes and consistent reads fail, so it is
// NOT_SERVING. LeaderHealthService is SERVING only on the leader, for a
// load balancer that wants to skip the forwarding hop.
func healthStatus(leader, leaderKnown bool) (api, lead healthpb.HealthCheckResponse_ServingStatus) {
	api, lead = healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	if leader || leaderKnown {
		api = healthpb.HealthCheckResponse_SERVING
	}
	if leader {
		lead = healthpb.HealthCheckResponse_SERVING
	}
	return api, lead
}

func (s *Server) setHealth(api, lead healthpb.HealthCheckResponse_ServingStatus) {
	for _, name := range s.healthNames {
		s.health.SetServingStatus(name, api)
	}
	s.health.SetServingStatus(LeaderHealthService, lead)
}

// healthEvery is how often the health status follows raft's view: a
// health probe sees a change at most this late.
const healthEvery = 250 * time.Millisecond

// followHealth keeps the health status in step with raft until Stop.
func (s *Server) followHealth() {
	defer close(s.healthDone)
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		id, _ := s.cluster.Leader()
		s.setHealth(healthStatus(s.cluster.IsLeader(), id != ""))
		select {
		case <-s.healthStop:
			return
		case <-t.C:
		}
	}
}

// stopGRPCExtras reports NOT_SERVING for everything (a server shutting
// down takes no new work) before the gRPC server stops.
func (s *Server) stopGRPCExtras() {
	if s.healthStop == nil {
		return
	}
	close(s.healthStop)
	<-s.healthDone
	s.healthStop = nil
	s.health.Shutdown()
}

// restRoutes mounts the REST API under /v1/ and its OpenAPI document at
// /v1/openapi.json on the HTTP listener.
func (s *Server) restRoutes(mux *http.ServeMux) error {
	creds := credentials.TransportCredentials(insecure.NewCredentials())
	if s.tls != nil {
		creds = credentials.NewTLS(s.tls.localClientConfig())
	}
	lis := s.inproc
	conn, err := grpc.NewClient("passthrough:///ibexd-in-process", grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		return err
	}
	h, err := rest.New(context.Background(), conn, 0)
	if err != nil {
		conn.Close()
		return err
	}
	s.restConn = conn
	mux.Handle(rest.Prefix, h)
	mux.HandleFunc("GET "+rest.OpenAPIPath, rest.OpenAPI)
	return nil
}

// localClientConfig dials this server's API as a client without a
// certificate: the cluster CA, the cluster's server name.
func (t *serverTLS) localClientConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(t.ca)
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: pki.ServerName}
}
