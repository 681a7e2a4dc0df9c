package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/internal/catrust"
)

// Trust is how the client checks the servers it talks to. ibexd serves TLS
// unless started with --plaintext or --insecure.
type Trust struct {
	// CAPin ("sha256:<hex>") trusts servers whose chain holds the cluster
	// CA with this hash; ibexd --dev writes it into the CLI config, and
	// admins find it in theirs. It takes precedence over CAFile.
	CAPin string
	// CAFile is a PEM bundle of CAs the server certificate must chain to,
	// with the usual host-name check: for operator-supplied certificates
	// from a private CA (or the cluster's own ca.pem).
	CAFile string
	// Plaintext talks to servers started with --plaintext or --insecure.
	Plaintext bool
}

// Option configures a Client.
type Option func(*options)

// options are what the Options set: how to trust the servers, and where
// to remember which one leads (leaderfile.go).
type options struct {
	Trust
	leaderFile string
}

// WithCAPin trusts the cluster CA with this pin.
func WithCAPin(pin string) Option { return func(o *options) { o.CAPin = pin } }

// WithCAFile trusts the CAs in a PEM file.
func WithCAFile(path string) Option { return func(o *options) { o.CAFile = path } }

// WithPlaintext talks to plaintext servers.
func WithPlaintext() Option { return func(o *options) { o.Plaintext = true } }

// WithTrust sets the whole Trust.
func WithTrust(tr Trust) Option { return func(o *options) { o.Trust = tr } }

// newCredentials returns a function making the credentials of one server
// connection. With neither a pin nor a CA file the system's roots are
// trusted (an operator's certificate from a public CA).
func (tr Trust) newCredentials() (func() credentials.TransportCredentials, error) {
	if tr.Plaintext {
		if tr.CAPin != "" || tr.CAFile != "" {
			return nil, errors.New("plaintext and a CA pin or file exclude each other")
		}
		return insecure.NewCredentials, nil
	}
	var cfg *tls.Config
	switch {
	case tr.CAPin != "":
		pin, err := catrust.ParsePin(tr.CAPin)
		if err != nil {
			return nil, err
		}
		cfg = catrust.PinnedConfig(pin)
	case tr.CAFile != "":
		b, err := os.ReadFile(tr.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		cas, err := catrust.ParseCAs(b)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", tr.CAFile, err)
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	default:
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return func() credentials.TransportCredentials { return catrust.Watch(credentials.NewTLS(cfg)) }, nil
}

// TrustError is a server that failed the TLS check, or spoke another
// protocol than the client expected: retrying cannot help, the user must
// fix the pin, CA file, plaintext setting or address.
type TrustError struct {
	Addr string
	Err  error
}

func (e *TrustError) Error() string { return fmt.Sprintf("ibexd at %s: %v", e.Addr, e.Err) }
func (e *TrustError) Unwrap() error { return e.Err }

// explain turns the failure of a call to server addr into a TrustError
// when the handshake says why it failed; otherwise it returns nil.
func explain(addr string, creds credentials.TransportCredentials, plaintext bool, err error) error {
	if w, ok := creds.(*catrust.Watched); ok {
		f := w.Failure()
		if f == nil {
			return nil
		}
		var re tls.RecordHeaderError
		var ve *tls.CertificateVerificationError
		switch {
		case errors.As(f, &re):
			f = errors.New("it does not speak TLS: if it runs with --plaintext or --insecure, set plaintext (--plaintext, IBEX_PLAINTEXT=1 or \"plaintext\": true in the CLI config)")
		case errors.As(f, &ve):
			f = fmt.Errorf("%w (trust the cluster CA with its pin: ca_pin in the CLI config, IBEX_CA_PIN or --ca-pin; `ibexd --dev` writes it, and an admin's config has it)", f)
		}
		return &TrustError{Addr: addr, Err: f}
	}
	if plaintext && err != nil {
		if msg := status.Convert(err).Message(); strings.Contains(msg, "preface") {
			return &TrustError{Addr: addr, Err: errors.New("it closed the plaintext connection: ibexd serves TLS unless started with --plaintext or --insecure; drop plaintext and set ca_pin")}
		}
	}
	return nil
}
