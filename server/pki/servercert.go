package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/model"
)

// Server certificates. Every ibexd holds one, issued by the cluster CA, and
// uses it on its API listener, to dial other servers' APIs (forwarding,
// join) and on both ends of raft. What makes a certificate a server's,
// rather than an agent's (SignAgent) or the agent listener's (ServerTLS),
// is ServerOU in its subject together with both TLS usages: the CA never
// puts that OU in anything else, whatever a CSR asks for, so a node agent's
// certificate (whose key sits on a tenant's machine) cannot pass for a
// server on raft.

// ServerOU is the organizational unit of server certificates.
const ServerOU = "ibex-server"

// ServerName is the DNS name every server certificate carries, whatever
// its addresses; pinned clients and servers dialing each other verify it.
const ServerName = catrust.ServerName

// ServerCertLifetime is how long a server certificate is valid; a server
// renews its own from the replicated CA when a third of it is left.
const ServerCertLifetime = 365 * 24 * time.Hour

// Limits on a server certificate request (ibexd --join sends one).
const (
	MaxCSRBytes = 16 << 10
	maxSANs     = 64
	maxDNSName  = 253
	maxServerID = 128
)

// NewCA creates a cluster CA: its certificate and key as PEM.
func NewCA() (certPEM, keyPEM string, err error) {
	sec, err := NewClusterSecrets()
	return sec.CACertPEM, sec.CAKeyPEM, err
}

// SecretsWithCA makes the cluster secrets around an existing CA (one the
// bootstrapping servers already hold, see server/tls.go) with a new gossip
// key. The CA must parse.
func SecretsWithCA(certPEM, keyPEM string) (model.ClusterSecrets, error) {
	sec := model.ClusterSecrets{CACertPEM: certPEM, CAKeyPEM: keyPEM}
	if _, err := Parse(sec); err != nil {
		return sec, err
	}
	gk := make([]byte, 32)
	rand.Read(gk)
	sec.GossipKey = base64.StdEncoding.EncodeToString(gk)
	return sec, nil
}

// Cert is the CA certificate.
func (c *CA) Cert() *x509.Certificate { return c.cert }

// SANs are the names a server certificate is valid for, besides
// ServerName.
type SANs struct {
	DNS []string
	IPs []net.IP
}

// IssueServer signs a server certificate for server id and public key pub.
func (c *CA) IssueServer(id string, sans SANs, pub crypto.PublicKey) (certPEM []byte, err error) {
	if err := checkServerID(id); err != nil {
		return nil, err
	}
	if err := checkSANs(sans); err != nil {
		return nil, err
	}
	dns := []string{ServerName}
	for _, d := range sans.DNS {
		if !slices.Contains(dns, d) {
			dns = append(dns, d)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: id, OrganizationalUnit: []string{ServerOU}},
		DNSNames:     dns,
		IPAddresses:  sans.IPs,
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().Add(ServerCertLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// SignServerCSR issues a server certificate from a certificate request of
// server id (its common name must be id), for the names it asks for. The
// caller has checked that the requester may have one (the admin token).
func (c *CA) SignServerCSR(id string, csrPEM []byte) (certPEM []byte, err error) {
	csr, err := ParseServerCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if csr.Subject.CommonName != id {
		return nil, fmt.Errorf("csr names %q, the request is for server %q", csr.Subject.CommonName, id)
	}
	return c.IssueServer(id, SANs{DNS: csr.DNSNames, IPs: csr.IPAddresses}, csr.PublicKey)
}

// ParseServerCSR reads and checks a server's certificate request: size,
// signature, key type and the names it asks for.
func ParseServerCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	if len(csrPEM) > MaxCSRBytes {
		return nil, fmt.Errorf("csr: %d bytes, at most %d", len(csrPEM), MaxCSRBytes)
	}
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("csr: not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("csr: RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("csr: unsupported key type %T", k)
	}
	if err := checkServerID(csr.Subject.CommonName); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	if len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 {
		return nil, errors.New("csr: only DNS names and IP addresses may be asked for")
	}
	if err := checkSANs(SANs{DNS: csr.DNSNames, IPs: csr.IPAddresses}); err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	return csr, nil
}

func checkServerID(id string) error {
	if id == "" || len(id) > maxServerID {
		return fmt.Errorf("server id must be 1 to %d bytes", maxServerID)
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("server id %q: only printable ASCII without spaces", id)
		}
	}
	return nil
}

func checkSANs(s SANs) error {
	if len(s.DNS)+len(s.IPs) > maxSANs {
		return fmt.Errorf("%d names, at most %d", len(s.DNS)+len(s.IPs), maxSANs)
	}
	for _, d := range s.DNS {
		if d == "" || len(d) > maxDNSName {
			return fmt.Errorf("DNS name of %d bytes, want 1 to %d", len(d), maxDNSName)
		}
		for _, r := range d {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '*' || r == '_') {
				return fmt.Errorf("DNS name %q: unexpected character %q", d, r)
			}
		}
	}
	return nil
}

// IsServerCert reports whether cert is one the cluster CA issues to
// servers (see the comment at the top of this file). It does not check
// the signature: the TLS verification that runs first does.
func IsServerCert(cert *x509.Certificate) bool {
	return slices.Contains(cert.Subject.OrganizationalUnit, ServerOU) &&
		slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) &&
		slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}

// errNotServer is a peer whose certificate the CA signed but not as a
// server's: an agent's, or the agent listener's.
var errNotServer = errors.New("the peer's certificate is from the cluster CA but is not a server certificate")

// verifyServerPeer is VerifyConnection for server-to-server TLS: Go has
// verified the chain against the CA; the leaf must be a server's.
func verifyServerPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the peer presented no certificate")
	}
	if !IsServerCert(cs.PeerCertificates[0]) {
		return fmt.Errorf("%w (subject %q)", errNotServer, cs.PeerCertificates[0].Subject)
	}
	return nil
}

// PeerTLS is the TLS of one server towards the others: Accept for its
// listeners (raft), Dial for connections it opens (raft, forwarding,
// join). Both require the other side to present a server certificate of
// the CA whose certificate is ca. cert returns this server's own
// certificate, read at every handshake so a renewal takes effect at once;
// it may fail while the server has none yet.
func PeerTLS(ca *x509.Certificate, cert func() (*tls.Certificate, error)) (accept, dial *tls.Config) {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	accept = &tls.Config{
		MinVersion:       tls.VersionTLS13,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert() },
		VerifyConnection: verifyServerPeer,
	}
	dial = &tls.Config{
		MinVersion:           tls.VersionTLS13,
		RootCAs:              pool,
		ServerName:           ServerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert() },
		VerifyConnection:     verifyServerPeer,
	}
	return accept, dial
}
