package agentgw_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/agentgw"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/pki"
	"github.com/ibex-hpc/ibex/server/replica"
)

func csr(t *testing.T, node string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: node}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// TestEnrollChecksTheTokenFirst: a bogus or expired join token is refused
// before anything is signed or written to raft, guessing is rate-limited
// per address, and the real token still enrolls.
func TestEnrollChecksTheTokenFirst(t *testing.T) {
	store := replica.NewMemory()
	ctx := context.Background()
	apply := func(cmd fsm.Command) {
		if _, err := store.Apply(ctx, cmd); err != nil {
			t.Fatalf("%T: %v", cmd, err)
		}
	}
	apply(&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node001", Leaf: "leaf1"}, {Name: "node002", Leaf: "leaf1"}}, Time: store.Now()})
	sec, err := pki.NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	apply(&fsm.SetClusterSecrets{Secrets: sec})
	good, old := auth.NewToken(), auth.NewToken()
	apply(&fsm.CreateJoinToken{Node: "node001", Hash: auth.HashToken(good), Expires: store.Now().Add(time.Hour)})
	apply(&fsm.CreateJoinToken{Node: "node002", Hash: auth.HashToken(old), Expires: store.Now().Add(time.Minute)})
	store.Advance(2 * time.Minute)
	store.Applied()

	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gw, err := agentgw.Start(gctx, agentgw.Config{Store: store, Listen: "127.0.0.1:0", NodeID: "s1", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Stop()
	from := func(ip string) context.Context {
		return peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}})
	}
	cases := []*pb.EnrollRequest{
		{Node: "node001", JoinToken: "ibex_bogus", CsrPem: csr(t, "node001")},
		{Node: "node002", JoinToken: good, CsrPem: csr(t, "node002")}, // another node's token
		{Node: "node002", JoinToken: old, CsrPem: csr(t, "node002")},  // expired
	}
	for _, req := range cases {
		if _, err := gw.Enroll(from("10.0.0.1"), req); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("enroll %s with a bad token: %v", req.Node, err)
		}
	}
	if cmds := store.Applied(); len(cmds) != 0 {
		t.Fatalf("refused enrollments wrote %d commands: %+v", len(cmds), cmds)
	}
	limited := 0
	for i := 0; i < 40; i++ {
		if _, err := gw.Enroll(from("10.0.0.2"), cases[0]); status.Code(err) == codes.ResourceExhausted {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("40 guesses in a row from one address were never rate-limited")
	}
	resp, err := gw.Enroll(from("10.0.0.3"), &pb.EnrollRequest{Node: "node001", JoinToken: good, CsrPem: csr(t, "node001")})
	if err != nil || len(resp.CertPem) == 0 {
		t.Fatalf("enroll with the real token: %v", err)
	}
}
