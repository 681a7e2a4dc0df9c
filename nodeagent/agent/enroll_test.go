package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/bmc"
)

func TestEnrollBadPinRefusedBeforeTokenIsSent(t *testing.T) {
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	env := newTestEnv(t)
	other := newTestCA(t)
	a := env.agent(t, []string{fs.addr}, fs.token, other.pin())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Start(ctx)
	var ee *EnrollError
	if !errors.As(err, &ee) || !errors.Is(err, errPinMismatch) {
		t.Fatalf("Start = %v, want an *EnrollError for a pin mismatch", err)
	}
	if n := fs.enrollCount(); n != 0 {
		t.Fatalf("server saw %d Enroll calls: the token was sent to an unpinned server", n)
	}
	if _, err := os.Stat(filepath.Join(env.dataDir, certFile)); !os.IsNotExist(err) {
		t.Fatalf("certificate stored after a refused enrollment: %v", err)
	}
}

func TestEnrollNeedsCAInServerChain(t *testing.T) {
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{leafOnly: true})
	env := newTestEnv(t)
	a := env.agent(t, []string{fs.addr}, fs.token, ca.pin())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Start(ctx)
	if !errors.Is(err, errPinMismatch) || !strings.Contains(err.Error(), "must send its CA certificate") {
		t.Fatalf("Start = %v, want a pin error explaining the CA must be in the chain", err)
	}
	if fs.enrollCount() != 0 {
		t.Fatal("token sent")
	}
}

func TestEnrollWithCAFileInsteadOfPin(t *testing.T) {
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{leafOnly: true}) // a CA file needs no CA in the chain
	env := newTestEnv(t)
	caPath := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caPath, ca.pem(), 0o644); err != nil {
		t.Fatal(err)
	}
	a := env.agent(t, []string{fs.addr}, fs.token, "")
	a.Config.CAFile = caPath
	stop := run(t, a)
	fs.nextConn(t)
	stop()
	if fs.enrollCount() != 1 {
		t.Fatalf("enrolls = %d, want 1", fs.enrollCount())
	}
}

func TestEnrollGoodPinStoresIdentityAndRestartReusesIt(t *testing.T) {
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	env := newTestEnv(t)
	a := env.agent(t, []string{fs.addr}, fs.token, strings.ToUpper(ca.pin()[len("sha256:"):])) // bare, upper-case hex is accepted
	a.BMC = bmc.NewFake(bmc.StateOn, bmc.Firmware{ID: "BMC", Name: "BMC firmware", Version: "1.10.2"}, bmc.Firmware{ID: "HCA", Version: "N/A"})
	stop := run(t, a)

	c := fs.nextConn(t)
	if c.hello.GetNode() != "node001" {
		t.Fatalf("hello node = %q", c.hello.GetNode())
	}
	inv := c.hello.GetInventory()
	if len(inv.GetHcas()) != 1 || inv.GetHcas()[0].GetPsid() != "MT_0000000228" || inv.GetHcas()[0].GetFwVersion() != "20.1.1000" {
		t.Fatalf("hello HCAs = %v", inv.GetHcas())
	}
	if p := inv.GetHcas()[0].GetPorts(); len(p) != 1 || p[0].GetState() != "4: ACTIVE" || p[0].GetGuid() != "0x0c42a1030016054c" {
		t.Fatalf("hello ports = %v", p)
	}
	if inv.GetPowerState() != "On" || len(inv.GetBmcFirmware()) != 2 || !inv.GetBmcFirmware()[0].GetKnown() || inv.GetBmcFirmware()[1].GetKnown() {
		t.Fatalf("hello BMC inventory = %v", inv)
	}
	stop()

	// Everything secret is private to the node.
	if fi, err := os.Stat(env.dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode: %v %v", fi.Mode(), err)
	}
	for _, f := range []string{keyFile, certFile, caFile, gossipFile} {
		fi, err := os.Stat(filepath.Join(env.dataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, err %v", f, fi.Mode(), err)
		}
	}
	certBefore, _ := os.ReadFile(filepath.Join(env.dataDir, certFile))
	if caStored, _ := os.ReadFile(filepath.Join(env.dataDir, caFile)); string(caStored) != string(ca.pem()) {
		t.Fatal("stored CA differs from the cluster CA")
	}

	// A second start, without a token, reuses the certificate.
	b := env.agent(t, []string{fs.addr}, "", "")
	stop = run(t, b)
	if c := fs.nextConn(t); c.hello.GetNode() != "node001" {
		t.Fatalf("second hello node = %q", c.hello.GetNode())
	}
	stop()
	if n := fs.enrollCount(); n != 1 {
		t.Fatalf("Enroll called %d times, want 1", n)
	}
	if certAfter, _ := os.ReadFile(filepath.Join(env.dataDir, certFile)); string(certAfter) != string(certBefore) {
		t.Fatal("certificate replaced on restart")
	}
}

func TestEnrollRefusedTokenIsFinal(t *testing.T) {
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	env := newTestEnv(t)
	a := env.agent(t, []string{fs.addr}, "wrong-token", ca.pin())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Start(ctx)
	var ee *EnrollError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Start = %v, want a final *EnrollError", err)
	}
}

func TestNotEnrolledWithoutTokenExplains(t *testing.T) {
	env := newTestEnv(t)
	a := env.agent(t, []string{"127.0.0.1:1"}, "", "")
	err := a.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "join token") {
		t.Fatalf("Start = %v, want an error asking for a join token", err)
	}
}

func TestEnrollRetriesUnreachableServer(t *testing.T) {
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	env := newTestEnv(t)
	// The first address refuses connections; the agent must move on.
	a := env.agent(t, []string{"127.0.0.1:1", fs.addr}, fs.token, ca.pin())
	run(t, a)
	fs.nextConn(t)
}

func TestParsePin(t *testing.T) {
	ca := newTestCA(t)
	want := PinOf(ca.cert.Raw)
	hexPin := want.String()[len("sha256:"):]
	var colons []string
	for i := 0; i < len(hexPin); i += 2 {
		colons = append(colons, strings.ToUpper(hexPin[i:i+2]))
	}
	for _, s := range []string{want.String(), "SHA256:" + hexPin, hexPin, " " + want.String() + "\n", strings.Join(colons, ":")} {
		got, err := ParsePin(s)
		if err != nil || got != want {
			t.Errorf("ParsePin(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "sha256:", "sha256:abcd", "sha1:" + hexPin, hexPin + "00", "sha256:" + strings.Repeat("z", 64)} {
		if _, err := ParsePin(s); err == nil {
			t.Errorf("ParsePin(%q) accepted", s)
		}
	}
}
