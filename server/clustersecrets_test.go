package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc/peer"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/localexec/ctlexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/agentgw"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/fabricview"
	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

func loneConfig(t *testing.T, dir string) Config {
	t.Helper()
	runner, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: dir, Bootstrap: true, Simulate: true, Exec: ctlexec.New(runner),
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t), Fabric: topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2},
		ReconcileEvery: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, h := range cfg.Fabric.Hosts() {
		cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h})
	}
	return cfg
}

// secretNeedles are byte strings that betray the secrets on disk: the PEM
// label of a private key, each base64 line of the CA key's PEM body (as
// JSON would carry them), and the gossip key (base64 and raw).
func secretNeedles(t *testing.T, sec model.ClusterSecrets) map[string][]byte {
	t.Helper()
	blk, _ := pem.Decode([]byte(sec.CAKeyPEM))
	gk, err := base64.StdEncoding.DecodeString(sec.GossipKey)
	if blk == nil || err != nil || len(gk) != 32 {
		t.Fatalf("secrets do not parse: %v", err)
	}
	body := base64.StdEncoding.EncodeToString(blk.Bytes)
	out := map[string][]byte{"PEM private key label": []byte("PRIVATE KEY"), "gossip key (base64)": []byte(sec.GossipKey), "gossip key (raw)": gk}
	for i := 0; i+40 <= len(body); i += 40 {
		out["CA key body at "+body[i:i+8]] = []byte(body[i : i+40])
	}
	return out
}

// grepTree fails the test for every file under dir holding a needle.
func grepTree(t *testing.T, dir string, needles map[string][]byte) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		plain := b
		if filepath.Base(path) == "state.bin" { // a snapshot: compressed (fsm.SnapshotBody)
			if plain, err = fsm.SnapshotBody(bytes.NewReader(b)); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		for what, n := range needles {
			if bytes.Contains(b, n) || bytes.Contains(plain, n) {
				t.Errorf("%s holds the %s", path, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestClusterSecretsNotOnDiskInTheClear: the raft log and a snapshot a
// running server wrote hold neither the CA private key nor the gossip key.
func TestClusterSecretsNotOnDiskInTheClear(t *testing.T) {
	dir := t.TempDir()
	s, stop := runServer(t, loneConfig(t, dir))
	sec, err := s.store.ClusterSecrets()
	if err != nil || sec.CAKeyPEM == "" {
		t.Fatalf("open the cluster secrets: %v", err)
	}
	var inState model.ClusterSecrets
	s.fsm.Read(func(st *fsm.State) { inState = st.Secrets })
	if !inState.IsSealed() || inState.CAKeyPEM != "" || inState.GossipKey != "" {
		t.Fatalf("replicated secrets in the clear: sealed=%v", inState.IsSealed())
	}
	keys, err := secretkey.Load(filepath.Join(dir, "secrets.key"))
	if err != nil || inState.CAKeySealed.KeyID != keys.Primary() {
		t.Fatalf("sealed under %s, the key file has %v (%v)", inState.CAKeySealed.KeyID, keys, err)
	}
	if err := s.cluster.Snapshot(); err != nil {
		t.Fatal(err)
	}
	stop()
	snaps, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot written")
	}
	if n := grepTree(t, filepath.Join(dir, "raft"), secretNeedles(t, sec)); n < 2 {
		t.Fatalf("only %d files under raft/", n)
	}
	// The snapshot does hold the sealed secrets, and the certificate.
	b, err := os.ReadFile(snaps[0])
	if err == nil {
		b, err = fsm.SnapshotBody(bytes.NewReader(b))
	}
	if err != nil || !bytes.Contains(b, []byte(`"ca_key_sealed"`)) {
		t.Fatalf("the snapshot lacks the sealed secrets: %v", err)
	}
}

// TestClearSecretsFromOldLogsAreSealed: a raft log written before sealing
// (SetClusterSecrets in the clear) still replays; the server leading it
// seals the secrets under its key, and they open to the same CA and
// gossip key.
func TestClearSecretsFromOldLogsAreSealed(t *testing.T) {
	dir := t.TempDir()
	cfg := loneConfig(t, dir)
	cfg.Plaintext = true // the old data directory has no TLS certificate yet
	old, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New()
	c, err := cluster.Open(cluster.Config{NodeID: "ibexd-1", DataDir: filepath.Join(dir, "raft"), BindAddr: cfg.RaftAddr, Bootstrap: true}, f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, &fsm.SetClusterSecrets{Secrets: old}); err != nil {
		t.Fatal(err)
	}
	c.Shutdown()

	s, stop := runServer(t, cfg)
	defer stop()
	var inState model.ClusterSecrets
	s.fsm.Read(func(st *fsm.State) { inState = st.Secrets })
	if !inState.IsSealed() || inState.CAKeyPEM != "" || inState.CACertPEM != old.CACertPEM {
		t.Fatalf("after a leader took over the old log: sealed=%v", inState.IsSealed())
	}
	got, err := s.store.ClusterSecrets()
	if err != nil || got.CAKeyPEM != old.CAKeyPEM || got.GossipKey != old.GossipKey {
		t.Fatalf("the sealed secrets do not open to the old ones: %v", err)
	}
}

// TestClusterSecretsKeyRotation: a new key on the first line of the key
// file; at the restart the leader seals the secrets under it; the old
// line can then go. A server left with only the old key cannot open them
// and says which flag to fix.
func TestClusterSecretsKeyRotation(t *testing.T) {
	dir := t.TempDir()
	cfg := loneConfig(t, dir)
	s, stop := runServer(t, cfg)
	before, err := s.store.ClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	stop()
	keyPath := filepath.Join(dir, "secrets.key")
	oldText, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	oldRing, _ := secretkey.Parse(oldText)
	newKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	newRing, _ := secretkey.Parse([]byte(newKey))
	write := func(text string) {
		if err := os.WriteFile(keyPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sealedUnder := func(s *Server) string {
		var id string
		s.fsm.Read(func(st *fsm.State) { id = st.Secrets.CAKeySealed.KeyID })
		return id
	}
	restart := func() *Server {
		cfg.Listen, cfg.RaftAddr = testcluster.FreeAddr(t), testcluster.FreeAddr(t)
		s, stop = runServer(t, cfg)
		return s
	}

	write(newKey + "\n" + string(oldText))
	s = restart()
	if id := sealedUnder(s); id != newRing.Primary() {
		t.Fatalf("after the rotation the secrets are sealed under %s, want the new %s", id, newRing.Primary())
	}
	after, err := s.store.ClusterSecrets()
	if err != nil || after.CAKeyPEM != before.CAKeyPEM || after.GossipKey != before.GossipKey {
		t.Fatalf("the re-sealed secrets differ: %v", err)
	}
	stop()

	write(newKey + "\n") // the old line goes
	s = restart()
	if _, err := pki.Current(s.store); err != nil {
		t.Fatalf("with the new key alone: %v", err)
	}
	stop()

	write(string(oldText)) // a server that missed the rotation
	s = restart()
	defer stop()
	_, err = pki.Current(s.store)
	if err == nil || !strings.Contains(err.Error(), "--secrets-key-file") || !strings.Contains(err.Error(), newRing.Primary()) {
		t.Fatalf("with only the old key %s: %v", oldRing.Primary(), err)
	}
}

// TestFollowerTurnedLeaderOpensTheSecrets: three servers bootstrapping
// together share the key file; after the leader stops, the follower that
// takes over opens the sealed CA key and gossip key with its own copy: it
// enrolls an agent (signs its certificate) and a gossip member using the
// key handed out joins its pool.
func TestFollowerTurnedLeaderOpensTheSecrets(t *testing.T) {
	tr := startTrio(t, nil)
	servers, stops, stopped, leader := tr.servers, tr.stops, tr.stopped, tr.leader
	first := leader(t)
	want, err := servers[first].store.ClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	var inState model.ClusterSecrets
	servers[first].fsm.Read(func(st *fsm.State) { inState = st.Secrets })
	if !inState.IsSealed() {
		t.Fatal("the replicated secrets are in the clear")
	}
	stops[first]()
	stopped[first] = true
	next := leader(t)
	s := servers[next]

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok := auth.NewToken()
	if _, err := s.store.Apply(ctx, &fsm.CreateJoinToken{Node: "node001", Hash: auth.HashToken(tok), Expires: s.store.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "node001"}}, key)
	from := peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	resp, err := s.agents.Enroll(from, &pb.EnrollRequest{Node: "node001", JoinToken: tok, CsrPem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})})
	if err != nil {
		t.Fatalf("enroll on the new leader %s: %v", s.cfg.NodeID, err)
	}
	blk, _ := pem.Decode(resp.CertPem)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caBlk, _ := pem.Decode([]byte(want.CACertPEM))
	caCert, _ := x509.ParseCertificate(caBlk.Bytes)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("the agent certificate the new leader signed: %v", err)
	}
	if resp.GossipKey != want.GossipKey {
		t.Fatal("the new leader handed out another gossip key")
	}

	// A member with that key joins the new leader's gossip pool.
	gk, _ := base64.StdEncoding.DecodeString(resp.GossipKey)
	conf := memberlist.DefaultLANConfig()
	conf.Name, conf.BindAddr, conf.BindPort, conf.AdvertisePort = "node:node001", "127.0.0.1", 0, 0
	conf.SecretKey = gk
	conf.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := ml.Join([]string{s.cfg.GossipBind}); err == nil {
			if alive, ok := s.agents.Alive(); ok && alive["node:node001"] {
				break
			}
		}
		if time.Now().After(deadline) {
			alive, _ := s.agents.Alive()
			t.Fatalf("the new leader's gossip pool never saw the member: %v", alive)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// trio is three in-process servers bootstrapping together with --peers,
// sharing the admin token's directory (and so the CA and key file).
type trio struct {
	servers []*Server
	stops   []func()
	stopped map[int]bool
}

func startTrio(t *testing.T, each func(*Config)) *trio {
	t.Helper()
	tokDir := t.TempDir()
	var peers []Peer
	var cfgs []Config
	for i := 1; i <= 3; i++ {
		c := loneConfig(t, filepath.Join(tokDir, fmt.Sprintf("s%d", i)))
		c.NodeID = fmt.Sprintf("s%d", i)
		c.AdminTokenFile = filepath.Join(tokDir, "admin.token")
		c.GossipBind = testcluster.FreeAddr(t)
		c.Gossip = agentgw.GossipTimings{ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 50 * time.Millisecond, SuspicionMult: 2}
		if each != nil {
			each(&c)
		}
		peers = append(peers, Peer{ID: c.NodeID, RaftAddr: c.RaftAddr, APIAddr: c.Listen})
		cfgs = append(cfgs, c)
	}
	tr := &trio{servers: make([]*Server, 3), stops: make([]func(), 3), stopped: map[int]bool{}}
	errs := make(chan error, 3)
	for i := range cfgs {
		cfgs[i].Peers = peers
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			s, err := Start(ctx, cfgs[i])
			if err != nil {
				cancel()
				errs <- err
				return
			}
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			tr.servers[i], tr.stops[i] = s, func() { cancel(); <-done; s.Stop() }
			errs <- nil
		}()
	}
	var failed error
	for range cfgs {
		if err := <-errs; err != nil {
			failed = err
		}
	}
	t.Cleanup(func() {
		for i, stop := range tr.stops {
			if stop != nil && !tr.stopped[i] {
				stop()
			}
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	return tr
}

// leader waits for a running server to lead and returns its index.
func (tr *trio) leader(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range tr.servers {
			if !tr.stopped[i] && s.cluster.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader")
	return -1
}
