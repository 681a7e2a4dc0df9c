package api

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

const bmcPassword = "Zq7-very-secret-bmc-pw"

// bmcCA is a self-signed CA certificate, made for the test.
var bmcCA = func() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bmc-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}()

func bmcHarness(t *testing.T) (*apiHarness, *secretkey.Keyring, *bytes.Buffer) {
	t.Helper()
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	keys, err := secretkey.Parse([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h.api.cfg.Secrets = keys
	h.api.cfg.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return h, keys, &logs
}

func goodBMC() *pb.SetBMCRequest {
	return &pb.SetBMCRequest{Node: "node001", Endpoint: "https://10.0.0.17", SystemId: "1", Username: "ibex", Password: bmcPassword}
}

// TestSetBMCNeverShowsTheLogin: the registration is stored with the login
// sealed (not in the state, the snapshot, the response, the detail view
// or the logs) and the node shows "credentials: set"; the sealed login
// opens to what was given.
func TestSetBMCNeverShowsTheLogin(t *testing.T) {
	h, keys, logs := bmcHarness(t)
	req := goodBMC()
	req.CaPem = bmcCA
	n, err := h.nodes.SetBMC(h.adminCtx(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n.Provision != string(model.ProvEnroll) {
		t.Fatalf("node after bmc set: %+v", n)
	}
	d, err := h.fleet.NodeDetail(h.adminCtx(), &pb.NodeDetailRequest{Node: "node001"})
	if err != nil {
		t.Fatal(err)
	}
	if b := d.Bmc; b == nil || b.Credentials != "set" || b.Endpoint != "https://10.0.0.17" || !b.CaPinned || b.Provision != "enroll" || b.SetBy != "root" {
		t.Fatalf("detail: %+v", d.Bmc)
	}
	var snap bytes.Buffer
	if err := fsm.WriteSnapshot(&snap, h.store.FSM.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	shown, _ := protojson.Marshal(d)
	for what, b := range map[string][]byte{"snapshot": snap.Bytes(), "node detail": shown, "logs": logs.Bytes()} {
		if bytes.Contains(b, []byte(bmcPassword)) {
			t.Errorf("the %s holds the BMC password", what)
		}
	}
	var stored model.NodeBMC
	h.store.Read(func(st *fsm.State) { stored = *st.Nodes["node001"].BMC })
	if u, p, err := keys.OpenBMCLogin("node001", stored); err != nil || u != "ibex" || p != bmcPassword {
		t.Fatalf("the sealed login opens to %q %q %v", u, p, err)
	}
	// A tenant sees neither the BMC nor its node's detail.
	if d, err := h.fleet.NodeDetail(h.ctx(), &pb.NodeDetailRequest{Node: "node001"}); err == nil && d.Bmc != nil {
		t.Fatal("a tenant sees the BMC")
	}
}

// TestSetBMCRefusals: non-admins, bad input, a node that holds a job and
// a server without a key are refused, with nothing proposed to raft and
// no password in the message.
func TestSetBMCRefusals(t *testing.T) {
	h, _, _ := bmcHarness(t)
	id := h.apply(t, &fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: 60e9, Argv: []string{"x"}}, Time: h.store.Now()}).(uint64)
	h.apply(t, &fsm.Allocate{JobID: id, Nodes: []string{"node002"}, Time: h.store.Now()})
	h.store.Applied()
	for _, tc := range []struct {
		name   string
		mod    func(r *pb.SetBMCRequest)
		tenant bool
		code   codes.Code
	}{
		{"a tenant", nil, true, codes.PermissionDenied},
		{"ftp endpoint", func(r *pb.SetBMCRequest) { r.Endpoint = "ftp://bmc" }, false, codes.InvalidArgument},
		{"login in the URL", func(r *pb.SetBMCRequest) { r.Endpoint = "https://ibex:" + bmcPassword + "@bmc" }, false, codes.InvalidArgument},
		{"a path", func(r *pb.SetBMCRequest) { r.Endpoint = "https://bmc/redfish/v1" }, false, codes.InvalidArgument},
		{"a long endpoint", func(r *pb.SetBMCRequest) { r.Endpoint = "https://" + strings.Repeat("b", 300) }, false, codes.InvalidArgument},
		{"a system path", func(r *pb.SetBMCRequest) { r.SystemId = "../Managers/1" }, false, codes.InvalidArgument},
		{"a key as CA", func(r *pb.SetBMCRequest) {
			r.CaPem = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"
		}, false, codes.InvalidArgument},
		{"a CA that does not parse", func(r *pb.SetBMCRequest) {
			r.CaPem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, false, codes.InvalidArgument},
		{"a CA over http", func(r *pb.SetBMCRequest) { r.Endpoint, r.CaPem = "http://bmc", bmcCA }, false, codes.InvalidArgument},
		{"no password", func(r *pb.SetBMCRequest) { r.Password = "" }, false, codes.InvalidArgument},
		{"a control character", func(r *pb.SetBMCRequest) { r.Password = bmcPassword + "\x1b[2J" }, false, codes.InvalidArgument},
		{"a long password", func(r *pb.SetBMCRequest) { r.Password = bmcPassword + strings.Repeat("x", 300) }, false, codes.InvalidArgument},
		{"an unknown node", func(r *pb.SetBMCRequest) { r.Node = "node999" }, false, codes.NotFound},
		{"a node holding a job", func(r *pb.SetBMCRequest) { r.Node = "node002" }, false, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := goodBMC()
			if tc.mod != nil {
				tc.mod(req)
			}
			ctx := h.adminCtx()
			if tc.tenant {
				ctx = h.ctx()
			}
			_, err := h.nodes.SetBMC(ctx, req)
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if strings.Contains(err.Error(), bmcPassword) {
				t.Fatalf("the error shows the password: %v", err)
			}
			if got := h.store.Applied(); len(got) != 0 {
				t.Fatalf("a refused registration proposed %v", got)
			}
		})
	}
	h.api.cfg.Secrets = nil
	if _, err := h.nodes.SetBMC(h.adminCtx(), goodBMC()); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--secrets-key-file") {
		t.Fatalf("without a key: %v", err)
	}
	if got := h.store.Applied(); len(got) != 0 {
		t.Fatalf("proposed %v without a key", got)
	}
}

// FuzzCheckBMCRequest: the registration check never panics, never quotes
// the password, and what it accepts is within the state's limits.
func FuzzCheckBMCRequest(f *testing.F) {
	f.Add("https://10.0.0.17", "1", "ibex", "pw", "")
	f.Add("https://u:pw@bmc:99999/x", "../1", "", "pw\x00", "-----BEGIN CERTIFICATE-----\n")
	f.Fuzz(func(t *testing.T, ep, sys, user, pass, ca string) {
		req := &pb.SetBMCRequest{Endpoint: ep, SystemId: sys, Username: user, Password: pass, CaPem: ca}
		b := model.NodeBMC{Endpoint: strings.TrimSuffix(ep, "/"), SystemID: sys, CAPEM: ca}
		err := checkBMCRequest(req, b)
		if err != nil {
			if len(pass) >= 6 && strings.Contains(err.Error(), pass) {
				t.Fatalf("error quotes the password: %v", err)
			}
			return
		}
		if len(user) > model.MaxBMCLoginBytes || len(pass) > model.MaxBMCLoginBytes || user == "" || pass == "" {
			t.Fatalf("accepted login of %d/%d bytes", len(user), len(pass))
		}
		b.Credentials = model.Sealed{KeyID: "k", Box: []byte{1}}
		if err := b.Validate(); err != nil {
			t.Fatalf("accepted a registration the state refuses: %v", err)
		}
	})
}

// TestSubmitImage: --image must name a catalog image some nodes can run;
// anything else is refused before raft.
func TestSubmitImage(t *testing.T) {
	h, _, _ := bmcHarness(t)
	h.apply(t, &fsm.AddImage{Image: model.Image{Name: "alma", Version: "8", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/a"}})
	h.store.Applied()
	for img, code := range map[string]codes.Code{
		"alma":         codes.InvalidArgument,
		"../x:1":       codes.InvalidArgument,
		"alma:8\x1b[m": codes.InvalidArgument,
		"rocky:9":      codes.NotFound,
		"alma:8":       codes.InvalidArgument, // no node carries it or can be imaged
	} {
		req := &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, Image: img}
		if _, err := h.jobs.Submit(h.ctx(), req); status.Code(err) != code {
			t.Errorf("--image %q: %v, want %s", img, err, code)
		}
		if got := h.store.Applied(); len(got) != 0 {
			t.Errorf("--image %q proposed %v", img, got)
		}
	}
}
