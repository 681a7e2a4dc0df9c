// Package catrust is how a client that holds no CA yet trusts an ibexd
// server: by a pin, the SHA-256 of the cluster CA certificate, checked
// against the chain the server presents. The CLI (client/) and a server
// joining a cluster (server/join.go) use it; node agents have the same
// scheme in nodeagent/agent (pin.go), whose string format this matches, so
// one pin printed by ibexd serves all three.
package catrust

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// ServerName is the DNS name in every server certificate the cluster CA
// issues (pki.ServerName has the same value). A pinned client asks for it
// in the TLS handshake, so a server that also has an operator-supplied
// certificate for its public name presents the cluster one instead.
const ServerName = "ibexd"

// pinPrefix names the hash, so a change of hash is visible in the string
// an operator copies.
const pinPrefix = "sha256:"

// maxPinLen bounds the pin text accepted: "sha256:" and 64 hex digits,
// with room for openssl's colon-separated form.
const maxPinLen = 128

// Pin is the SHA-256 of a CA certificate's DER encoding.
type Pin [sha256.Size]byte

// PinOf hashes a DER certificate.
func PinOf(der []byte) Pin { return Pin(sha256.Sum256(der)) }

// String formats the pin as "sha256:<64 lowercase hex>".
func (p Pin) String() string { return pinPrefix + hex.EncodeToString(p[:]) }

// Matches reports whether der hashes to p, in constant time.
func (p Pin) Matches(der []byte) bool {
	h := sha256.Sum256(der)
	return subtle.ConstantTimeCompare(h[:], p[:]) == 1
}

// ParsePin accepts "sha256:<64 hex>" (either case; colons between byte
// pairs, as openssl prints fingerprints, are allowed) or the bare hex.
func ParsePin(s string) (Pin, error) {
	if len(s) > maxPinLen {
		return Pin{}, fmt.Errorf("CA pin: %d characters, want sha256:<64 hex digits>", len(s))
	}
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

// Error is a server that failed the trust check: it is final for that
// server (retrying cannot change the answer), so callers stop retrying and
// tell the user what to check.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// VerifyPinned checks a server's chain against a pin: some certificate of
// the chain must be a CA whose hash is the pin, and the leaf must verify
// against it as a TLS server certificate for ServerName. It returns the
// pinned CA.
func VerifyPinned(chain []*x509.Certificate, pin Pin) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, &Error{errors.New("the server presented no certificate")}
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
		return nil, &Error{fmt.Errorf("the server's certificate is not from the cluster CA with pin %s: check the pin (ca_pin, IBEX_CA_PIN, --ca-pin) and the address", pin)}
	}
	if !ca.IsCA {
		return nil, &Error{fmt.Errorf("the certificate with pin %s is not a CA", pin)}
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, &Error{fmt.Errorf("the server's certificate does not verify against the pinned CA: %w", err)}
	}
	return ca, nil
}

// PinnedConfig is a client TLS config that trusts exactly the servers whose
// chain verifies against pin (see VerifyPinned). It runs inside the
// handshake, so no request (and no token) is sent to a server that fails.
func PinnedConfig(pin Pin) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         ServerName,
		InsecureSkipVerify: true, // replaced by VerifyConnection: the pin, not the system roots
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := VerifyPinned(cs.PeerCertificates, pin)
			return err
		},
	}
}

// maxCAFile bounds a CA file: a bundle of a few dozen certificates.
const maxCAFile = 1 << 20

// ParseCAs reads the certificates of a PEM bundle.
func ParseCAs(b []byte) ([]*x509.Certificate, error) {
	if len(b) > maxCAFile {
		return nil, fmt.Errorf("CA file larger than %d KiB", maxCAFile>>10)
	}
	var out []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate in the CA file")
	}
	return out, nil
}

// Watched wraps gRPC client credentials and remembers the last handshake
// that failed for a reason retrying cannot fix: the server failed the
// trust check (pin, CA file, name), or does not speak TLS. gRPC reports
// both as Unavailable, like a server that is down, and would retry; a
// caller asks Failure and stops instead, with the reason.
type Watched struct {
	credentials.TransportCredentials
	last *atomic.Pointer[error]
}

// Watch wraps c.
func Watch(c credentials.TransportCredentials) *Watched {
	return &Watched{TransportCredentials: c, last: &atomic.Pointer[error]{}}
}

// ClientHandshake records the outcome of the inner handshake.
func (w *Watched) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, ai, err := w.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		if final(err) {
			w.last.Store(&err)
		}
		return c, ai, err
	}
	w.last.Store(nil)
	return c, ai, nil
}

// Clone keeps the record shared with the original.
func (w *Watched) Clone() credentials.TransportCredentials {
	return &Watched{TransportCredentials: w.TransportCredentials.Clone(), last: w.last}
}

// Failure is the last final handshake failure, nil if the last handshake
// succeeded or failed for a reason that may pass (a refused connection).
func (w *Watched) Failure() error {
	if p := w.last.Load(); p != nil {
		return *p
	}
	return nil
}

// final reports whether a handshake error is one a retry cannot fix.
func final(err error) bool {
	var (
		te *Error
		ve *tls.CertificateVerificationError
		re tls.RecordHeaderError
		ae tls.AlertError
	)
	return errors.As(err, &te) || errors.As(err, &ve) || errors.As(err, &re) || errors.As(err, &ae)
}
