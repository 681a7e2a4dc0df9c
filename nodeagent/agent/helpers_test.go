package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// testCA is a throwaway cluster CA.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial atomic.Int64

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: "ibex test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func (ca *testCA) pin() string { return PinCA(ca.cert) }

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// serverCert issues the agent-listener certificate the way ibexd will:
// SAN DNS "ibexd" plus the listener IP.
func (ca *testCA) serverCert(t *testing.T, withCA bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: "ibexd"},
		DNSNames:     []string{DefaultServerName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	chain := [][]byte{der}
	if withCA {
		chain = append(chain, ca.cert.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key}
}

// signCSR issues a node client certificate for a PEM CSR, like
// Agents.Enroll does.
func (ca *testCA) signCSR(csrPEM []byte) ([]byte, error) {
	blk, _ := pem.Decode(csrPEM)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM CSR")
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: csr.Subject.CommonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// fakeConn is one Connect stream as the fake server sees it.
type fakeConn struct {
	hello *pb.AgentHello
	send  chan *pb.AgentTask
	msgs  chan *pb.AgentMessage
	drop  chan struct{}
}

// fakeServer implements pb.AgentsServer the way the agent expects ibexd
// to: Enroll without a client certificate (one-time token, signs the
// CSR), Connect only with a valid, unrevoked one, Hello first.
type fakeServer struct {
	pb.UnimplementedAgentsServer
	ca          *testCA
	token       string
	gossipKey   []byte
	gossipSeeds []string

	mu       sync.Mutex
	used     bool
	revoked  map[string]bool
	enrolls  int
	attempts int // Connect calls, refused ones included
	accepted int

	conns chan *fakeConn
	addr  string
}

type fakeOpts struct {
	// clientCA, when set, is the only CA the TLS layer accepts client
	// certificates from, and a client certificate is required at the
	// handshake (the "strict" listener).
	clientCA *testCA
	// leafOnly makes the server send its certificate without the CA.
	leafOnly bool
}

func startFakeServer(t *testing.T, ca *testCA, opts fakeOpts) *fakeServer {
	t.Helper()
	fs := &fakeServer{ca: ca, token: "join-secret", revoked: map[string]bool{}, conns: make(chan *fakeConn, 16)}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{ca.serverCert(t, !opts.leafOnly)},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.pool(),
		MinVersion:   tls.VersionTLS12,
	}
	if opts.clientCA != nil {
		tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
		tlsCfg.ClientCAs = opts.clientCA.pool()
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))
	pb.RegisterAgentsServer(srv, fs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	fs.addr = lis.Addr().String()
	return fs
}

func (fs *fakeServer) Enroll(ctx context.Context, req *pb.EnrollRequest) (*pb.EnrollResponse, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.enrolls++
	if fs.used || req.GetJoinToken() != fs.token {
		return nil, status.Error(codes.PermissionDenied, "invalid or used join token")
	}
	fs.used = true
	cert, err := fs.ca.signCSR(req.GetCsrPem())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := &pb.EnrollResponse{CertPem: cert, CaPem: fs.ca.pem(), GossipSeeds: fs.gossipSeeds}
	if fs.gossipKey != nil {
		resp.GossipKey = base64.StdEncoding.EncodeToString(fs.gossipKey)
	}
	return resp, nil
}

func (fs *fakeServer) Connect(stream pb.Agents_ConnectServer) error {
	fs.mu.Lock()
	fs.attempts++
	fs.mu.Unlock()
	cn, err := clientCN(stream.Context())
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	fs.mu.Lock()
	revoked := fs.revoked[cn]
	fs.mu.Unlock()
	if revoked {
		return status.Error(codes.PermissionDenied, "node "+cn+" is revoked")
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil || hello.GetNode() != cn {
		return status.Error(codes.InvalidArgument, "first message must be a Hello for the certificate's node")
	}
	fs.mu.Lock()
	fs.accepted++
	fs.mu.Unlock()
	c := &fakeConn{hello: hello, send: make(chan *pb.AgentTask, 16), msgs: make(chan *pb.AgentMessage, 256), drop: make(chan struct{})}
	fs.conns <- c
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			c.msgs <- m
		}
	}()
	for {
		select {
		case t := <-c.send:
			if err := stream.Send(t); err != nil {
				return err
			}
		case <-c.drop:
			return status.Error(codes.Unavailable, "dropped by test")
		case err := <-recvErr:
			return err
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

func clientCN(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", errors.New("no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return "", errors.New("a client certificate from the cluster CA is required")
	}
	return ti.State.VerifiedChains[0][0].Subject.CommonName, nil
}

func (fs *fakeServer) enrollCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.enrolls
}

func (fs *fakeServer) revoke(node string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.revoked[node] = true
}

// nextConn waits for the agent's next stream.
func (fs *fakeServer) nextConn(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-fs.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no agent connection within 10s")
		return nil
	}
}

// result waits for the result of task id on c, skipping progress.
func (c *fakeConn) result(t *testing.T, id string) *pb.TaskResult {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if r := m.GetResult(); r != nil {
				if r.GetId() != id {
					t.Fatalf("result for %q, want %q", r.GetId(), id)
				}
				return r
			}
		case <-timeout:
			t.Fatalf("no result for task %s within 20s", id)
			return nil
		}
	}
}

// testEnv is a data dir, a disk file, a sysfs fixture and fakes for one
// agent.
type testEnv struct {
	dataDir, disk, sysfs, fwDir string
	flasher                     *firmware.Fake
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{
		dataDir: filepath.Join(dir, "data"),
		disk:    filepath.Join(dir, "disk.img"),
		sysfs:   filepath.Join(dir, "root"),
		fwDir:   filepath.Join(dir, "firmware"),
		flasher: firmware.NewFake(),
	}
	writeSysfsHCA(t, e.sysfs, "mlx5_0", "MT_0000000228", "20.1.1000")
	// A simulated node's disk is a file that exists before any task.
	if err := os.WriteFile(e.disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.fwDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

// agent builds an Agent for e against servers, with fast timings.
func (e *testEnv) agent(t *testing.T, servers []string, token, pin string) *Agent {
	t.Helper()
	return &Agent{
		Config: Config{
			Node: "node001", Servers: servers, DataDir: e.dataDir,
			JoinToken: token, CAPin: pin,
			SysfsRoot: e.sysfs, Disk: e.disk, FirmwareDir: e.fwDir,
			NoGossip:   true,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			RefusedRetry: 200 * time.Millisecond, DialTimeout: 5 * time.Second,
		},
		Eraser:  &erase.Overwrite{Samples: 8},
		Flasher: &driverFollows{Fake: e.flasher, sysfs: e.sysfs},
		Logger:  testLogger(t),
	}
}

// run starts a in the background; stop cancels it and waits for Start to
// return, failing the test if it returned an error.
func run(t *testing.T, a *Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Start: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Start did not return within 20s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// driverFollows is the fake flasher with what a real adapter adds: after
// a firmware reset the driver re-probes and sysfs fw_ver shows the
// running firmware.
type driverFollows struct {
	*firmware.Fake
	sysfs string
}

func (d *driverFollows) Reset(ctx context.Context, device string) error {
	if err := d.Fake.Reset(ctx, device); err != nil {
		return err
	}
	if dev, ok := d.Fake.Device(device); ok {
		fw := filepath.Join(d.sysfs, "sys/class/infiniband", device, "fw_ver")
		return os.WriteFile(fw, []byte(dev.Running+"\n"), 0o644)
	}
	return nil
}

// writeSysfsHCA writes a minimal sysfs tree for one ConnectX adapter.
func writeSysfsHCA(t *testing.T, root, name, psid, fw string) {
	t.Helper()
	dev := filepath.Join(root, "sys/class/infiniband", name)
	files := map[string]string{
		"board_id": psid + "\n", "fw_ver": fw + "\n", "hca_type": "MT4123\n",
		"node_guid": "0c42:a103:0016:054c\n", "node_type": "1: CA\n",
		"ports/1/state": "4: ACTIVE\n", "ports/1/phys_state": "5: LinkUp\n",
		"ports/1/rate": "200 Gb/sec (4X HDR)\n", "ports/1/link_layer": "InfiniBand\n",
		"ports/1/gids/0": "fe80:0000:0000:0000:0c42:a103:0016:054c\n", "ports/1/lid": "0x12\n",
	}
	for f, content := range files {
		p := filepath.Join(dev, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// testLogger logs to the test log, so failures show the agent's story.
// Lines logged after the test ended (a straggling goroutine) are dropped
// instead of panicking.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

var _ io.Writer = (*testWriter)(nil)
