package server

// The TLS configurations made of a server's certificates (tls.go), one per
// channel, and the plaintext policy.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/server/pki"
)

// current is this server's certificate, for every handshake.
func (t *serverTLS) current() (*tls.Certificate, error) {
	if c := t.cert.Load(); c != nil {
		return c, nil
	}
	return nil, errors.New("this server has no certificate yet")
}

// Pin is the pin of the cluster CA ("sha256:..."), what clients put in
// ca_pin; empty for a plaintext server.
func (t *serverTLS) Pin() string {
	if t == nil {
		return ""
	}
	return catrust.PinOf(t.ca.Raw).String()
}

// apiConfig is the API listener's TLS: the cluster certificate to clients
// that ask for pki.ServerName (pinned clients and other servers) or when
// the operator gave none, the operator's otherwise. Client certificates
// are optional (tenants have none) and verified when given.
func (t *serverTLS) apiConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(t.ca)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  pool,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if t.operator != nil && hello.ServerName != pki.ServerName {
				return t.operator, nil
			}
			return t.current()
		},
	}
}

// httpConfig serves the dashboard and /metrics on an address that is not
// loopback: the API's certificates, no client certificates asked for (a
// browser would prompt for one).
func (t *serverTLS) httpConfig() *tls.Config {
	c := t.apiConfig()
	c.ClientAuth, c.ClientCAs = tls.NoClientCert, nil
	return c
}

// grpcServerOptions serve the API over TLS (none for plaintext).
func (t *serverTLS) grpcServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(t.apiConfig()))}
}

// peerCredentials dial another server's API (forwarding, join): mutual
// TLS, the other side must hold a server certificate of the cluster CA.
func (t *serverTLS) peerCredentials() credentials.TransportCredentials {
	if t == nil {
		return insecure.NewCredentials()
	}
	_, dial := pki.PeerTLS(t.ca, t.current)
	return credentials.NewTLS(dial)
}

// raftTLS is raft's transport security (nil: plain TCP).
func (t *serverTLS) raftTLS() *cluster.PeerTLS {
	if t == nil {
		return nil
	}
	accept, dial := pki.PeerTLS(t.ca, t.current)
	return &cluster.PeerTLS{Accept: accept, Dial: dial}
}

// clientEnv tells processes in jobs how to trust the API (IBEX_ADDR names
// it): the pin, or plaintext. The other variable is blanked so that a
// node's own environment does not contradict it.
func (t *serverTLS) clientEnv() []string {
	if t == nil {
		return []string{"IBEX_PLAINTEXT=1", "IBEX_CA_PIN=", "IBEX_CA_FILE="}
	}
	return []string{"IBEX_CA_PIN=" + t.Pin(), "IBEX_PLAINTEXT=", "IBEX_CA_FILE="}
}

// isLoopback reports whether addr ("host:port") listens on loopback only.
func isLoopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkPlaintext refuses plaintext where tokens would cross a network:
// any listener that is not loopback, unless Insecure says the network is
// trusted.
func (c *Config) checkPlaintext() error {
	if !c.Plaintext || c.Insecure {
		return nil
	}
	for _, a := range []struct{ flag, addr string }{{"--listen", c.Listen}, {"--raft-addr", c.RaftAddr}, {"--http", c.HTTPListen}} {
		if a.addr != "" && !isLoopback(a.addr) {
			return fmt.Errorf("plaintext on %s %s, which is not a loopback address, would send tokens (admin ones included) in clear text: "+
				"drop --plaintext to use TLS, or add --insecure if this network is trusted", a.flag, a.addr)
		}
	}
	return nil
}

// announceTLS says at start how this server's channels are protected.
func (s *Server) announceTLS() {
	switch {
	case s.tls != nil:
		s.log.Info("TLS on the API, forwarding, join and raft", "ca_pin", s.tls.Pin(), "operator_cert", s.tls.operator != nil)
	case s.cfg.Insecure:
		s.log.Warn("INSECURE: the API, forwarding, join and raft are PLAINTEXT; every token, admin ones included, crosses the network in clear text (--insecure)")
	default:
		s.log.Info("plaintext on loopback: the API, forwarding, join and raft are not encrypted (--plaintext)")
	}
}

// CAPin is the cluster CA's pin that clients put in ca_pin, or "" for a
// plaintext server.
func (s *Server) CAPin() string { return s.tls.Pin() }
