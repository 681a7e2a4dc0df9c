package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// PeerTLS makes the raft transport mutual TLS (Config.TLS). Accept is
// what this server presents to peers that dial it and must require and
// verify their certificates; Dial is used to dial peers and must verify
// theirs. server/pki.PeerTLS builds both from the cluster CA, accepting
// only server certificates, so neither a plaintext peer nor one with
// another CA's (or an agent's) certificate can vote, append or receive
// the log.
type PeerTLS struct {
	Accept, Dial *tls.Config
}

// handshakeTimeout bounds a TLS handshake on a raft connection, so a peer
// that connects and says nothing does not hold a goroutine for ever.
const handshakeTimeout = 10 * time.Second

// tlsStream is a raft.StreamLayer over TLS.
type tlsStream struct {
	lis       net.Listener
	advertise net.Addr
	dial      *tls.Config
}

// newTLSTransport listens on bindAddr and returns raft's network transport
// over TLS, with NewTCPTransport's checks of the advertised address.
func newTLSTransport(bindAddr string, advertise net.Addr, p *PeerTLS, maxPool int, timeout time.Duration, cfg Config) (*raft.NetworkTransport, error) {
	if p.Accept == nil || p.Dial == nil {
		return nil, errors.New("raft TLS needs both an accept and a dial config")
	}
	lis, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, err
	}
	s := &tlsStream{lis: lis, advertise: advertise, dial: p.Dial}
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok || addr.IP == nil || addr.IP.IsUnspecified() {
		lis.Close()
		return nil, fmt.Errorf("local bind address %s is not advertisable", s.Addr())
	}
	accept := p.Accept
	s.lis = tls.NewListener(lis, accept)
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: s, MaxPool: maxPool, Timeout: timeout,
		Logger: cfg.Logger}), nil
}

// Accept returns the next connection; its handshake runs on first use,
// bounded by handshakeTimeout, in the goroutine raft serves it from.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.lis.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeFirst{Conn: c.(*tls.Conn)}, nil
}

func (s *tlsStream) Close() error { return s.lis.Close() }

func (s *tlsStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.lis.Addr()
}

// Dial connects to a peer and completes the handshake (the peer's
// certificate verified) within timeout.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.dial}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft TLS to %s: %w", address, err)
	}
	return c, nil
}

// handshakeFirst runs the server handshake, with a deadline, before the
// first read or write.
type handshakeFirst struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *handshakeFirst) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if c.err = c.Conn.HandshakeContext(ctx); c.err != nil {
			c.err = fmt.Errorf("raft TLS from %s refused: %w", c.RemoteAddr(), c.err)
			c.Conn.Close()
		}
	})
	return c.err
}

func (c *handshakeFirst) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *handshakeFirst) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// HasState reports whether cfg.DataDir already holds raft state (a log,
// stable state or a snapshot), without starting raft: a server decides
// by it whether it is new and must first get a certificate.
func HasState(cfg Config) (bool, error) {
	if err := cfg.Validate(); err != nil {
		return false, err
	}
	if _, err := os.Stat(cfg.DataDir); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	store, err := openStore(cfg)
	if err != nil {
		return false, fmt.Errorf("raft: open log store: %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, cfg.Logger)
	if err != nil {
		return false, fmt.Errorf("raft: open snapshot store: %w", err)
	}
	return raft.HasExistingState(store, store, snaps)
}
