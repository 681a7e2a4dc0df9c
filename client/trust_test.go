package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/pki"
)

// tlsServer serves the Jobs stub over TLS with a server certificate of a
// new cluster CA (names: pki.ServerName and 127.0.0.1), and returns its
// address, the CA's pin and the CA as PEM.
func tlsServer(t *testing.T) (addr, pin string, caPEM []byte) {
	t.Helper()
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, err := ca.IssueServer("s1", pki.SANs{IPs: []net.IP{net.ParseIP("127.0.0.1")}}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(certPEM)
	cert := tls.Certificate{Certificate: [][]byte{blk.Bytes, ca.Cert().Raw}, PrivateKey: key}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	servers := ""
	pb.RegisterJobsServer(gs, &jobsServer{name: "tls", servers: &servers})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), ca.Pin(), ca.PEM
}

func get(t *testing.T, addr string, opts ...Option) (*pb.Job, error) {
	t.Helper()
	c, err := New(addr, "tok", opts...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 1})
}

// TestPinnedClient: the right pin (in any of the accepted spellings) or
// the CA file reaches a TLS server; a wrong pin, no trust at all (the
// system's roots do not hold the cluster CA) and plaintext fail at once,
// not after the call's timeout, with a TrustError that says what to fix.
func TestPinnedClient(t *testing.T) {
	addr, pin, caPEM := tlsServer(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]Option{
		"pin":           WithCAPin(pin),
		"bare hex pin":  WithCAPin(strings.ToUpper(strings.TrimPrefix(pin, "sha256:"))),
		"CA file by IP": WithCAFile(caFile),
	} {
		if j, err := get(t, addr, opt); err != nil || j.Name != "tls" {
			t.Errorf("%s: %v %v", name, j, err)
		}
	}
	wrong := "sha256:" + strings.Repeat("ab", 32)
	for name, tc := range map[string]struct {
		opt  Option
		want string
	}{
		"wrong pin":  {WithCAPin(wrong), "is not from the cluster CA with pin " + wrong},
		"no trust":   {WithTrust(Trust{}), "ca_pin"},
		"plaintext":  {WithPlaintext(), "serves TLS unless started with --plaintext"},
		"other file": {WithCAFile(writeOtherCA(t)), "certificate signed by unknown authority"},
	} {
		start := time.Now()
		_, err := get(t, addr, tc.opt)
		var te *TrustError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || te.Addr != addr {
			t.Errorf("%s: got %v, want a TrustError for %s containing %q", name, err, addr, tc.want)
		}
		if time.Since(start) > 10*time.Second { // the call's budget is 20 s: it must not be spent retrying
			t.Errorf("%s: failed only after %v", name, time.Since(start))
		}
	}
	if _, err := New(addr, "tok", WithCAPin("md5:abcd")); err == nil {
		t.Error("a malformed pin was accepted")
	}
}

// TestTLSClientToPlaintextServer: a TLS client tells the user that the
// server speaks plaintext.
func TestTLSClientToPlaintextServer(t *testing.T) {
	var servers string
	addr, _ := serve(t, "plain", &servers)
	_, err := get(t, addr, WithCAPin("sha256:"+strings.Repeat("00", 32)))
	var te *TrustError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Fatalf("got %v, want a TrustError saying the server does not speak TLS", err)
	}
}

func writeOtherCA(t *testing.T) string {
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "other.pem")
	if err := os.WriteFile(p, []byte(sec.CACertPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
