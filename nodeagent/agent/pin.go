package agent

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/ibex-hpc/ibex/internal/catrust"
)

// Pin is the sha256 of a CA certificate's DER encoding (the format is
// internal/catrust's, shared with the CLI and the servers).
//
// Why a pin: a node being enrolled has no CA yet, so it cannot verify the
// server, yet it is about to send a secret (the join token). The operator
// copies the pin that ibexd prints next to the token; the agent then
// sends the token only over a TLS session whose presented chain contains
// a CA certificate with that hash and a server certificate that CA signed.
// This is the scheme of kubeadm's discovery-token-ca-cert-hash, with the
// hash taken over the whole certificate rather than its public key.
type Pin = catrust.Pin

// PinCA returns the pin string ("sha256:<64 lowercase hex>") for a CA
// certificate. ibexd uses it to print the pin operators pass to agents.
func PinCA(ca *x509.Certificate) string { return PinOf(ca.Raw).String() }

// PinOf hashes a DER certificate.
func PinOf(der []byte) Pin { return catrust.PinOf(der) }

// ParsePin accepts "sha256:<64 hex>" (either case; colons between byte
// pairs, as openssl prints fingerprints, are allowed) or the bare hex.
func ParsePin(s string) (Pin, error) { return catrust.ParsePin(s) }

// errPinMismatch marks a server that presented no certificate matching the
// pin. It is final: retrying the same server cannot change the answer, and
// the operator must check the pin or the address.
var errPinMismatch = errors.New("no certificate in the server's chain matches the CA pin")

// verifyPinned checks a server chain during enrollment, when no CA is
// trusted yet: some certificate of the chain must be a CA whose hash is
// the pin, and the leaf must verify against it for serverName.
func verifyPinned(chain []*x509.Certificate, pin Pin, serverName string) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("server presented no certificate")
	}
	var ca *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range chain {
		if pin.Matches(c.Raw) {
			ca = c
		} else {
			inter.AddCert(c)
		}
	}
	if ca == nil {
		return nil, fmt.Errorf("%w %s (the server sent %d certificate(s); ibexd must send its CA certificate after its own): check --ca-pin and the server address",
			errPinMismatch, pin, len(chain))
	}
	if !ca.IsCA {
		return nil, fmt.Errorf("%w: the pinned certificate is not a CA", errPinMismatch)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, DNSName: serverName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("server certificate does not verify against the pinned CA: %w", err)
	}
	return ca, nil
}
