package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// identity is what enrollment produced: the node's key and certificate,
// the cluster CA, and the gossip settings handed out with them.
type identity struct {
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	ca     *x509.Certificate
	gossip gossipSettings
}

// gossipSettings is gossip.json.
type gossipSettings struct {
	// Key is base64 of the memberlist keyring's primary key.
	Key   string   `json:"key"`
	Seeds []string `json:"seeds"`
}

// loadOrCreateKey returns the node key, generating an ECDSA P-256 key on
// first use. The key is written before enrollment and reused by every
// later attempt, so a lost Enroll answer never leaves a certificate for a
// key the node threw away; it never leaves the node.
func loadOrCreateKey(dir string) (*ecdsa.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := readFileIfExists(path)
	if err != nil {
		return nil, fmt.Errorf("agent: node key: %w", err)
	}
	if b != nil {
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("agent: node key %s: not a PEM PRIVATE KEY", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("agent: node key %s: %w", path, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("agent: node key %s: not an ECDSA key", path)
		}
		return ek, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("agent: generate node key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("agent: node key: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, fmt.Errorf("agent: save node key: %w", err)
	}
	return k, nil
}

// makeCSR builds the PEM CSR for the node key with CN = node.
func makeCSR(node string, key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: node},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("agent: CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// loadIdentity reads a stored enrollment. ok is false when DataDir holds
// no certificate yet, i.e. the node must enroll.
func loadIdentity(dir, node string) (id *identity, ok bool, err error) {
	certPEM, err := readFileIfExists(filepath.Join(dir, certFile))
	if err != nil {
		return nil, false, fmt.Errorf("agent: node certificate: %w", err)
	}
	if certPEM == nil {
		return nil, false, nil
	}
	caPEM, err := readFileIfExists(filepath.Join(dir, caFile))
	if err != nil || caPEM == nil {
		return nil, false, fmt.Errorf("agent: %s exists but the CA certificate %s cannot be read (%v); remove %s to enroll again",
			certFile, caFile, err, filepath.Join(dir, certFile))
	}
	key, err := loadOrCreateKey(dir)
	if err != nil {
		return nil, false, err
	}
	id = &identity{key: key}
	if id.cert, err = parseCertPEM(certPEM); err != nil {
		return nil, false, fmt.Errorf("agent: %s: %w", certFile, err)
	}
	if id.ca, err = parseCertPEM(caPEM); err != nil {
		return nil, false, fmt.Errorf("agent: %s: %w", caFile, err)
	}
	if err := id.check(node); err != nil {
		return nil, false, err
	}
	if b, err := readFileIfExists(filepath.Join(dir, gossipFile)); err != nil {
		return nil, false, fmt.Errorf("agent: %s: %w", gossipFile, err)
	} else if b != nil {
		if err := json.Unmarshal(b, &id.gossip); err != nil {
			return nil, false, fmt.Errorf("agent: %s: %w", gossipFile, err)
		}
	}
	return id, true, nil
}

// check makes sure the certificate is this node's, for this key, from this
// CA. A DataDir copied from another node, or a certificate for another
// key, would otherwise only show up as refused connections.
func (id *identity) check(node string) error {
	if id.cert.Subject.CommonName != node {
		return fmt.Errorf("agent: the stored certificate is for node %q, not %q: wrong --data-dir or --node", id.cert.Subject.CommonName, node)
	}
	pub, ok := id.cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&id.key.PublicKey) {
		return errors.New("agent: the stored certificate is not for the stored node key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(id.ca)
	if _, err := id.cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			// Not fatal here: the server has the last word, and the
			// refusal path logs how to re-enroll.
			return nil
		}
		return fmt.Errorf("agent: the stored certificate does not verify against the stored CA: %w", err)
	}
	return nil
}

// expiresIn is how long the node certificate stays valid.
func (id *identity) expiresIn(now time.Time) time.Duration { return id.cert.NotAfter.Sub(now) }

// save writes the enrollment to dir. The certificate goes last: its
// presence is what marks the node enrolled.
func (id *identity) save(dir string) error {
	g, err := json.Marshal(id.gossip)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.ca.Raw})},
		{gossipFile, g},
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.cert.Raw})},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("agent: save %s: %w", f.name, err)
		}
	}
	return nil
}

// clientTLS is the mTLS configuration for every call after enrollment:
// present the node certificate, trust only the cluster CA, and require
// serverName in the server certificate.
func (id *identity) clientTLS(serverName string) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(id.ca)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		ServerName: serverName,
		Certificates: []tls.Certificate{{
			Certificate: [][]byte{id.cert.Raw},
			PrivateKey:  id.key,
			Leaf:        id.cert,
		}},
	}
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE")
	}
	return x509.ParseCertificate(blk.Bytes)
}
