package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/pki"
)

func newTestCA(t *testing.T) *pki.CA {
	t.Helper()
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func keyPair(t *testing.T, certPEM []byte, key *ecdsa.PrivateKey, ca *x509.Certificate) *tls.Certificate {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	return &tls.Certificate{Certificate: [][]byte{blk.Bytes, ca.Raw}, PrivateKey: key}
}

// serverCert is a server certificate of ca for id.
func serverCert(t *testing.T, ca *pki.CA, id string) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, err := ca.IssueServer(id, pki.SANs{IPs: []net.IP{net.ParseIP("127.0.0.1")}}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair(t, p, key, ca.Cert())
}

// agentCert is a node agent's client certificate from ca.
func agentCert(t *testing.T, ca *pki.CA, node string) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: node}}, key)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := ca.SignAgent(node, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return keyPair(t, p, key, ca.Cert())
}

func peerTLS(ca *pki.CA, cert *tls.Certificate) *PeerTLS {
	accept, dial := pki.PeerTLS(ca.Cert(), func() (*tls.Certificate, error) { return cert, nil })
	return &PeerTLS{Accept: accept, Dial: dial}
}

func tlsConfig(t *testing.T, id string, p *PeerTLS, peers []Peer) Config {
	return Config{NodeID: id, DataDir: filepath.Join(t.TempDir(), id), BindAddr: "127.0.0.1:0", Bootstrap: len(peers) > 0, Peers: peers,
		HeartbeatTimeout: time.Second, ElectionTimeout: time.Second, TLS: p, Logger: hclog.NewNullLogger()}
}

// freeAddrs reserves n loopback addresses for a bootstrap peer list.
func freeAddrs(t *testing.T, n int) []string {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Addr().String())
		l.Close()
	}
	return out
}

// tlsCluster starts three raft servers over mutual TLS with certificates
// from ca and returns them with the leader first.
func tlsCluster(t *testing.T, ca *pki.CA) []*Cluster {
	t.Helper()
	addrs := freeAddrs(t, 3)
	var peers []Peer
	for i, a := range addrs {
		peers = append(peers, Peer{ID: fmt.Sprintf("s%d", i+1), Addr: a})
	}
	var cs []*Cluster
	for i, p := range peers {
		cfg := tlsConfig(t, p.ID, peerTLS(ca, serverCert(t, ca, p.ID)), peers)
		cfg.BindAddr = addrs[i]
		c, err := Open(cfg, fsm.New())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Shutdown() })
		cs = append(cs, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		for i, c := range cs {
			if c.IsLeader() {
				cs[0], cs[i] = cs[i], cs[0]
				return cs
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no leader over TLS")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func applyTenant(t *testing.T, c *Cluster, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := &fsm.CreateTenant{}
	cmd.Tenant = model.Tenant{Name: name, TokenHash: "h-" + name}
	if _, err := c.Apply(ctx, cmd); err != nil {
		t.Fatal(err)
	}
}

// waitApplied waits until c's FSM applied the leader's last index.
func waitApplied(t *testing.T, c *Cluster, index uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.raft.AppliedIndex() < index {
		if time.Now().After(deadline) {
			t.Fatalf("%s applied %d, want %d", c.cfg.NodeID, c.raft.AppliedIndex(), index)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSRaftReplicatesAndJoins: three servers elect a leader and
// replicate over mutual TLS, and a fourth with a server certificate of the
// same CA joins and catches up.
func TestTLSRaftReplicatesAndJoins(t *testing.T) {
	ca := newTestCA(t)
	cs := tlsCluster(t, ca)
	applyTenant(t, cs[0], "alice")
	for _, c := range cs {
		waitApplied(t, c, cs[0].raft.LastIndex())
	}
	cfg := tlsConfig(t, "s4", peerTLS(ca, serverCert(t, ca, "s4")), nil)
	f4 := fsm.New()
	c4, err := Open(cfg, f4)
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Shutdown()
	if err := cs[0].Join("s4", c4.Addr()); err != nil {
		t.Fatal(err)
	}
	applyTenant(t, cs[0], "bob")
	waitApplied(t, c4, cs[0].raft.LastIndex())
	// raft's applied index runs ahead of the FSM (it is set when the
	// batch is handed over): wait for the state itself.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		f4.Read(func(st *fsm.State) { n = len(st.Tenants) })
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the joined server has %d tenants, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingListener counts accepted connections, so a test knows a peer
// has tried to reach it.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// plainStream is raft's plain TCP stream layer over a counting listener.
type plainStream struct{ *countingListener }

func (s plainStream) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(a), timeout)
}

// strangerStream speaks TLS with cert (nil: none), trusting anyone.
type strangerStream struct {
	*countingListener
	cert *tls.Certificate
}

func (s strangerStream) cfg() *tls.Config {
	c := &tls.Config{InsecureSkipVerify: true, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13}
	if s.cert != nil {
		c.Certificates = []tls.Certificate{*s.cert}
	}
	return c
}

func (s strangerStream) Accept() (net.Conn, error) {
	c, err := s.countingListener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, s.cfg()), nil
}

func (s strangerStream) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(a), s.cfg())
}

// stranger is a raft transport that is not one of the cluster's servers.
func stranger(t *testing.T, kind string, ca, otherCA *pki.CA) (*raft.NetworkTransport, *countingListener) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	var s raft.StreamLayer
	switch kind {
	case "plaintext":
		s = plainStream{cl}
	case "other CA":
		s = strangerStream{cl, serverCert(t, otherCA, "s9")}
	case "agent certificate":
		s = strangerStream{cl, agentCert(t, ca, "node001")}
	case "no certificate":
		s = strangerStream{cl, nil}
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: s, MaxPool: 1, Timeout: 2 * time.Second,
		Logger: hclog.NewNullLogger()})
	t.Cleanup(func() { tr.Close() })
	return tr, cl
}

// TestTLSRaftRefusesStrangers: a peer that speaks plaintext, holds a
// server certificate of another CA, holds an agent's certificate of the
// cluster's own CA, or holds none, can neither append to nor win votes
// from a server (its RPCs fail and the server's log and term stay as they
// were), nor join: the leader adds it as a voter but never sends it a
// single entry.
func TestTLSRaftRefusesStrangers(t *testing.T) {
	ca, otherCA := newTestCA(t), newTestCA(t)
	cs := tlsCluster(t, ca)
	applyTenant(t, cs[0], "alice")
	follower := cs[1]
	waitApplied(t, follower, cs[0].raft.LastIndex())

	for i, kind := range []string{"plaintext", "other CA", "agent certificate", "no certificate"} {
		t.Run(kind, func(t *testing.T) {
			tr, lis := stranger(t, kind, ca, otherCA)
			term, last := follower.raft.CurrentTerm(), follower.raft.LastIndex()
			entry := &raft.Log{Index: last + 1, Term: term + 100, Type: raft.LogCommand, Data: []byte("forged")}
			var aer raft.AppendEntriesResponse
			err := tr.AppendEntries(raft.ServerID(follower.cfg.NodeID), raft.ServerAddress(follower.Addr()), &raft.AppendEntriesRequest{
				RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("s9"), Addr: []byte(lis.Addr().String())},
				Term:      term + 100, PrevLogEntry: last, PrevLogTerm: term, Entries: []*raft.Log{entry}, LeaderCommitIndex: last + 1,
			}, &aer)
			if err == nil {
				t.Fatalf("append accepted: %+v", aer)
			}
			var vr raft.RequestVoteResponse
			if err := tr.RequestVote(raft.ServerID(follower.cfg.NodeID), raft.ServerAddress(follower.Addr()), &raft.RequestVoteRequest{
				RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("s9"), Addr: []byte(lis.Addr().String())},
				Term:      term + 200, LastLogIndex: last + 1000, LastLogTerm: term + 100,
			}, &vr); err == nil {
				t.Fatalf("vote request answered: %+v", vr)
			}
			if follower.raft.CurrentTerm() != term {
				t.Fatalf("the follower's term moved from %d to %d", term, follower.raft.CurrentTerm())
			}

			// Join: the leader adds the stranger (it has the cluster's admin
			// rights in this test), then must fail to replicate to it.
			id := fmt.Sprintf("x%d", i)
			if err := cs[0].Join(id, lis.Addr().String()); err != nil {
				t.Fatal(err)
			}
			applyTenant(t, cs[0], "after-"+id)
			deadline := time.Now().Add(20 * time.Second)
			for lis.n.Load() < 2 { // the leader tried, failed, and tried again
				if time.Now().After(deadline) {
					t.Fatalf("the leader never dialed the stranger (%d connections)", lis.n.Load())
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case rpc := <-tr.Consumer():
				t.Fatalf("the stranger received %T from the leader", rpc.Command)
			default:
			}
			if err := cs[0].Remove(id); err != nil {
				t.Fatal(err)
			}
			if got := follower.raft.LastIndex(); got < last {
				t.Fatalf("log shrank to %d", got)
			}
		})
	}
	// The cluster still works and agrees.
	applyTenant(t, cs[0], "bob")
	for _, c := range cs {
		waitApplied(t, c, cs[0].raft.LastIndex())
	}
}
