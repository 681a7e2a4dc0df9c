package bmc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

func startTLSMock(t *testing.T) *httptest.Server {
	t.Helper()
	srv := redfishmock.NewServer(loadMockup(t, "public-tower"), redfishmock.Options{Username: testUser, Password: testPassword})
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// otherCA makes a self-signed CA that signed nothing the test server has.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "some other BMC CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM(der)
}

// TestCAPinning: a BMC whose certificate chains to the pinned CA is
// trusted without Insecure; one that does not is refused, as is a name
// the certificate does not carry.
func TestCAPinning(t *testing.T) {
	ts := startTLSMock(t)
	ctx := context.Background()
	rightCA := certPEM(ts.Certificate().Raw) // httptest's certificate is its own CA
	dir := t.TempDir()
	right, wrong := filepath.Join(dir, "right.pem"), filepath.Join(dir, "wrong.pem")
	must(t, os.WriteFile(right, rightCA, 0o644))
	must(t, os.WriteFile(wrong, otherCA(t), 0o644))

	cfg := testConfig(ts.URL, "")
	cfg.CAFile = right
	if _, err := dial(t, cfg).PowerState(ctx); err != nil {
		t.Errorf("pinned right CA file: %v", err)
	}
	cfg.CAFile, cfg.CAPEM = "", rightCA
	if _, err := dial(t, cfg).PowerState(ctx); err != nil {
		t.Errorf("pinned right CA PEM: %v", err)
	}
	cfg.TLSServerName = "example.com" // also in httptest's certificate
	if _, err := dial(t, cfg).PowerState(ctx); err != nil {
		t.Errorf("pinned CA with TLSServerName: %v", err)
	}

	for name, mutate := range map[string]func(*Config){
		"wrong CA file":    func(c *Config) { c.CAFile = wrong },
		"wrong CA PEM":     func(c *Config) { c.CAPEM = otherCA(t) },
		"wrong name":       func(c *Config) { c.CAPEM, c.TLSServerName = rightCA, "bmc17.example" },
		"system roots":     func(c *Config) {},
		"wrong CA, bundle": func(c *Config) { c.CAPEM = append(otherCA(t), otherCA(t)...) },
	} {
		cfg := testConfig(ts.URL, "")
		mutate(&cfg)
		_, err := Dial(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: Dial = %v, want a certificate error", name, err)
		}
		noSecret(t, err)
	}
}

func TestCAFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, data, 0o644))
		return p
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	good := otherCA(t)
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing.pem"), "no such file"},
		{write("empty.pem", nil), "no PEM CERTIFICATE block"},
		{write("der.cer", []byte{0x30, 0x82, 0x01, 0x00}), "no PEM CERTIFICATE block"},
		{write("key.pem", key), `is a "EC PRIVATE KEY", not a CERTIFICATE`},
		{write("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})), "not a valid certificate"},
		{write("trailing.pem", append(append([]byte{}, good...), "junk"...)), "data after the last PEM certificate"},
		{write("huge.pem", make([]byte, maxCABytes+1)), "larger than"},
	} {
		cfg := Config{Endpoint: "https://127.0.0.1:1", CAFile: tc.path}
		_, err := Dial(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Dial = %v, want %q", filepath.Base(tc.path), err, tc.want)
		}
		if _, err := NewLazy(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewLazy = %v, want %q", filepath.Base(tc.path), err, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Endpoint: "https://bmc", CAFile: "x.pem", Insecure: true}, "drop Insecure"},
		{Config{Endpoint: "https://bmc", CAFile: "x.pem", CAPEM: good}, "both set"},
		{Config{Endpoint: "http://bmc", CAPEM: good}, "use https://"},
		{Config{Endpoint: "http://bmc", TLSServerName: "bmc.example"}, "use https://"},
		{Config{Endpoint: "https://bmc", PowerWait: -time.Second}, "PowerWait"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
