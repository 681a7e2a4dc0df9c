package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func testCA(t testing.TB) *CA {
	t.Helper()
	sec, err := NewClusterSecrets()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parsePEM(t testing.TB, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("not PEM: %q", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func csrFor(t testing.TB, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// TestOnlyServerCertsPassAsServers: of everything the CA signs, only
// server certificates are servers' — an agent's client certificate (whose
// CSR asked for the server OU) and the agent listener's certificate are
// not, so neither can take part in raft.
func TestOnlyServerCertsPassAsServers(t *testing.T) {
	ca := testCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := ca.IssueServer("s1", SANs{DNS: []string{"s1.example"}, IPs: []net.IP{net.ParseIP("10.0.0.1")}}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sc := parsePEM(t, srv)
	if !IsServerCert(sc) {
		t.Fatalf("server certificate not recognised: %v %v", sc.Subject, sc.ExtKeyUsage)
	}
	if !slices.Contains(sc.DNSNames, ServerName) || !slices.Contains(sc.DNSNames, "s1.example") || len(sc.IPAddresses) != 1 {
		t.Fatalf("names: %v %v", sc.DNSNames, sc.IPAddresses)
	}
	if err := sc.VerifyHostname(ServerName); err != nil {
		t.Fatal(err)
	}

	agentCSR := csrFor(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "node001", OrganizationalUnit: []string{ServerOU}}})
	ac, _, err := ca.SignAgent("node001", agentCSR)
	if err != nil {
		t.Fatal(err)
	}
	if IsServerCert(parsePEM(t, ac)) {
		t.Fatal("an agent certificate passes as a server's")
	}
	lis, err := ca.ServerTLS(net.ParseIP("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := x509.ParseCertificate(lis.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if IsServerCert(lc) {
		t.Fatal("the agent listener's certificate passes as a server's")
	}
}

func TestSignServerCSR(t *testing.T) {
	ca := testCA(t)
	good := csrFor(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "s4"}, DNSNames: []string{"s4.example"},
		IPAddresses: []net.IP{net.ParseIP("10.1.2.3")}})
	certPEM, err := ca.SignServerCSR("s4", good)
	if err != nil {
		t.Fatal(err)
	}
	c := parsePEM(t, certPEM)
	if !IsServerCert(c) || c.Subject.CommonName != "s4" || !slices.Contains(c.DNSNames, "s4.example") {
		t.Fatalf("issued %v %v", c.Subject, c.DNSNames)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert())
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("does not verify as a client: %v", err)
	}

	u, _ := url.Parse("spiffe://x/y")
	many := make([]string, maxSANs+1)
	for i := range many {
		many[i] = "n.example"
	}
	for name, tc := range map[string]struct {
		id   string
		csr  []byte
		want string
	}{
		"other name":   {"s5", good, "the request is for server"},
		"not pem":      {"s4", []byte("hello"), "not a PEM"},
		"too large":    {"s4", append(good, make([]byte, MaxCSRBytes)...), "at most"},
		"uri":          {"s4", csrFor(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "s4"}, URIs: []*url.URL{u}}), "only DNS names"},
		"bad dns":      {"s4", csrFor(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "s4"}, DNSNames: []string{"a b"}}), "unexpected character"},
		"many names":   {"s4", csrFor(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "s4"}, DNSNames: many}), "at most"},
		"bad id":       {"s 4", csrFor(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "s 4"}}), "printable"},
		"empty server": {"", csrFor(t, &x509.CertificateRequest{}), "server id"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ca.SignServerCSR(tc.id, tc.csr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseServerCSR(f *testing.F) {
	f.Add(csrFor(f, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "s1"}, DNSNames: []string{"a.example"}}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	ca := testCA(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := ParseServerCSR(b)
		if err != nil {
			return
		}
		if len(csr.DNSNames)+len(csr.IPAddresses) > maxSANs {
			t.Fatalf("accepted %d names", len(csr.DNSNames)+len(csr.IPAddresses))
		}
		if _, err := ca.SignServerCSR(csr.Subject.CommonName, b); err != nil {
			t.Fatalf("parsed but not signed: %v", err)
		}
	})
}
