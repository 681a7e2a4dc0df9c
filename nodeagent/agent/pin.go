package agent

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// pinPrefix names the hash, so a future change of hash is visible in the
// string an operator copies.
const pinPrefix = "sha256:"

// Pin is the sha256 of a CA certificate's DER encoding.
//
// Why a pin: a node being enrolled has no CA yet, so it cannot verify the
// server, yet it is about to send a secret (the join token). The operator
// copies the pin that ibexd prints next to the token; the agent then
// sends the token only over a TLS session whose presented chain contains
// a CA certificate with that hash and a server certificate that CA signed.
// This is the scheme of kubeadm's discovery-token-ca-cert-hash, with the
// hash taken over the whole certificate rather than its public key.
type Pin [sha256.Size]byte

// PinCA returns the pin string ("sha256:<64 lowercase hex>") for a CA
// certificate. ibexd uses it to print the pin operators pass to agents.
func PinCA(ca *x509.Certificate) string { return PinOf(ca.Raw).String() }

// PinOf hashes a DER certificate.
func PinOf(der []byte) Pin { return Pin(sha256.Sum256(der)) }

// String formats the pin as "sha256:<hex>".
func (p Pin) String() string { return pinPrefix + hex.EncodeToString(p[:]) }

// Matches reports whether der hashes to p, in constant time.
func (p Pin) Matches(der []byte) bool {
	h := sha256.Sum256(der)
	return subtle.ConstantTimeCompare(h[:], p[:]) == 1
}

// ParsePin accepts "sha256:<64 hex>" (either case; colons between byte
// pairs, as openssl prints fingerprints, are allowed) or the bare hex.
func ParsePin(s string) (Pin, error) {
	t := strings.TrimSpace(s)
	if len(t) >= len(pinPrefix) && strings.EqualFold(t[:len(pinPrefix)], pinPrefix) {
		t = t[len(pinPrefix):]
	} else if i := strings.IndexByte(t, ':'); i >= 0 && i != 2 {
		return Pin{}, fmt.Errorf("CA pin %q: only sha256 pins are supported", s)
	}
	t = strings.ReplaceAll(t, ":", "")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return Pin{}, fmt.Errorf("CA pin %q: want sha256:<64 hex digits>", s)
	}
	return Pin(b), nil
}

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
