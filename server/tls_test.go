package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/localexec/ctlexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/pki"
)

func TestPlaintextOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		name                string
		listen, raft, http  string
		plaintext, insecure bool
		want                string
	}{
		{name: "TLS anywhere", listen: "0.0.0.0:7700", raft: "10.0.0.1:7701", http: "10.0.0.1:7702"},
		{name: "plaintext on loopback", listen: "127.0.0.1:7700", raft: "[::1]:7701", http: "localhost:7702", plaintext: true},
		{name: "plaintext API on a wildcard", listen: "0.0.0.0:7700", raft: "127.0.0.1:7701", plaintext: true, want: "--listen 0.0.0.0:7700"},
		{name: "plaintext raft off loopback", listen: "127.0.0.1:7700", raft: "10.0.0.1:7701", plaintext: true, want: "--raft-addr"},
		{name: "plaintext dashboard off loopback", listen: "127.0.0.1:7700", raft: "127.0.0.1:7701", http: ":7702", plaintext: true, want: "--http"},
		{name: "insecure anywhere", listen: "0.0.0.0:7700", raft: "10.0.0.1:7701", plaintext: true, insecure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Listen: tc.listen, RaftAddr: tc.raft, HTTPListen: tc.http, Plaintext: tc.plaintext, Insecure: tc.insecure}
			err := c.checkPlaintext()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--insecure")) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSharedCAOneForAll: servers of one host bootstrapping at once, each
// creating the shared CA file if it is missing, all end up with one CA.
func TestSharedCAOneForAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster-ca.pem")
	var wg sync.WaitGroup
	pins := make([]string, 8)
	errs := make([]error, 8)
	for i := range pins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = createSharedCA(path); errs[i] != nil {
				return
			}
			cert, _, err := readSharedCA(path)
			if errs[i] = err; err == nil {
				blk, _ := pem.Decode([]byte(cert))
				pins[i] = catrust.PinOf(blk.Bytes).String()
			}
		}()
	}
	wg.Wait()
	for i := range pins {
		if errs[i] != nil || pins[i] != pins[0] {
			t.Fatalf("server %d: %v, pin %s; server 0 has %s", i, errs[i], pins[i], pins[0])
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the CA file: %v %v, want mode 0600", fi, err)
	}
}

// TestLoneServerCAIsTheClusterCA: a server bootstrapping alone signs its
// own certificate with a CA it creates, and that CA, not another, becomes
// the replicated one (what `ibex agent token` pins): a pinned client and
// the agents trust one CA. Once replicated, the bootstrap copy of the CA
// key is removed, and every file is private. A restart keeps it all.
func TestLoneServerCAIsTheClusterCA(t *testing.T) {
	runner, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Bootstrap: true, Simulate: true, Exec: ctlexec.New(runner),
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t), Fabric: topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2},
		TLSSANs: []string{"ibex.example.net", "192.0.2.7"}, ReconcileEvery: 50 * time.Millisecond, HTTPListen: "0.0.0.0:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s, stop := runServer(t, cfg)
	pin := s.CAPin()
	ca, err := pki.Current(s.store)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Pin() != pin {
		t.Fatalf("the replicated CA %s is not the one the API's certificate is from (%s)", ca.Pin(), pin)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tls", caPinFile)); err != nil || strings.TrimSpace(string(b)) != pin {
		t.Fatalf("ca.pin: %q %v, want %s", b, err, pin)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "tls", caKeyFile)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bootstrap copy of the CA key is still there")
		}
		time.Sleep(20 * time.Millisecond)
	}
	filepath.Walk(filepath.Join(dir, "tls"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
		return nil
	})
	// The dashboard's listener is not on loopback: HTTPS only.
	_, port, _ := net.SplitHostPort(s.HTTPAddr())
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert())
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	if resp, err := https.Get("https://127.0.0.1:" + port + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("https /healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + port + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("the dashboard answers plain HTTP off loopback")
	}
	leaf := s.tls.cert.Load().Leaf
	if !slices.Contains(leaf.DNSNames, "ibex.example.net") || !slices.ContainsFunc(leaf.IPAddresses, net.ParseIP("192.0.2.7").Equal) {
		t.Fatalf("--tls-san missing: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	stop()

	// A restart keeps the CA; a new --tls-san gets a new certificate from
	// the replicated CA (the bootstrap copy of its key is gone).
	cfg.TLSSANs = append(cfg.TLSSANs, "ibex2.example.net")
	s, stop = runServer(t, cfg)
	defer func() { stop() }()
	if s.CAPin() != pin {
		t.Fatalf("the CA changed on restart: %s, was %s", s.CAPin(), pin)
	}
	for !slices.Contains(s.tls.cert.Load().Leaf.DNSNames, "ibex2.example.net") {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatal("the certificate was not renewed with the new name")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl, err := client.New(s.Addr(), s.AdminToken, client.WithCAPin(pin))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Tenants.WhoAmI(cl.Context(t.Context()), &pb.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.tls.cert.Load().Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "ibex2.example.net"}); err != nil {
		t.Fatal(err)
	}
}
