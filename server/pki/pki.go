// Package pki is the cluster CA: it signs agents' client certificates and
// the agent listener's server certificate. The CA lives in the replicated
// state so that any leader can enroll agents.
package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// AgentServerName is the name agents expect in a server certificate.
const AgentServerName = "ibexd"

// NewClusterSecrets creates the CA and the gossip key.
func NewClusterSecrets() (model.ClusterSecrets, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return model.ClusterSecrets{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "ibex cluster CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return model.ClusterSecrets{}, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return model.ClusterSecrets{}, err
	}
	gk := make([]byte, 32)
	rand.Read(gk)
	return model.ClusterSecrets{
		CACertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CAKeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})),
		GossipKey: base64.StdEncoding.EncodeToString(gk),
	}, nil
}

// CA is a parsed cluster CA.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, handed to agents at enrollment.
	PEM []byte
}

// Parse reads the CA from the cluster secrets.
func Parse(sec model.ClusterSecrets) (*CA, error) {
	cb, _ := pem.Decode([]byte(sec.CACertPEM))
	kb, _ := pem.Decode([]byte(sec.CAKeyPEM))
	if cb == nil || kb == nil {
		return nil, errors.New("cluster CA: bad PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("cluster CA key: %w", err)
	}
	return &CA{cert: cert, key: key, PEM: []byte(sec.CACertPEM)}, nil
}

// Pin is "sha256:" and the hex SHA-256 of the CA certificate (DER), given
// to agents with their join token so they can trust the server before they
// hold the CA.
func (c *CA) Pin() string {
	sum := sha256.Sum256(c.cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SignAgent issues a client certificate for node from its CSR. The CSR's
// common name must be the node's name.
func (c *CA) SignAgent(node string, csrPEM []byte) (certPEM []byte, serial string, err error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, "", errors.New("csr: not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("csr signature: %w", err)
	}
	if csr.Subject.CommonName != node {
		return nil, "", fmt.Errorf("csr names %q, token is for %q", csr.Subject.CommonName, node)
	}
	sn := randomSerial()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: node},
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), sn.Text(16), nil
}

// ServerTLS returns the agent listener's TLS config: a certificate for
// AgentServerName and the listener's IP, client certificates verified
// against the CA when given (Enroll has none yet).
func (c *CA) ServerTLS(ips ...net.IP) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: AgentServerName},
		DNSNames:     []string{AgentServerName},
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-5 * time.Minute),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key}},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

// Reader gives this server's view of the cluster secrets, opened with
// its key-encryption key (replica.Store).
type Reader interface {
	ClusterSecrets() (model.ClusterSecrets, error)
}

// ErrNoCA is returned while the leader has not created the CA yet.
var ErrNoCA = errors.New("cluster CA not created yet")

// Current parses the cluster CA from the state, or fails when the leader
// has not created it yet or this server cannot open its key.
func Current(r Reader) (*CA, error) {
	sec, err := r.ClusterSecrets()
	if err != nil {
		return nil, err
	}
	if sec.CACertPEM == "" {
		return nil, ErrNoCA
	}
	return Parse(sec)
}

// Wait blocks until the cluster CA is replicated here, or ctx ends. It
// fails at once when the CA is there but does not open (no or the wrong
// key-encryption key), which waiting cannot fix.
func Wait(ctx context.Context, r Reader) (*CA, error) {
	for {
		c, err := Current(r)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrNoCA) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
