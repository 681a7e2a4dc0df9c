package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// EnrollError is an enrollment failure that retrying cannot fix: the
// server is not the one the pin or CA file names, the join token was
// refused, or the answer was not a usable certificate. Start returns it
// instead of retrying, because each of these needs an operator.
type EnrollError struct {
	Server string
	Err    error
}

func (e *EnrollError) Error() string { return fmt.Sprintf("agent: enroll via %s: %v", e.Server, e.Err) }

func (e *EnrollError) Unwrap() error { return e.Err }

// trust is what the agent trusts before it has enrolled: a pin, CA
// certificates from a file, or both (then the file's CA must match the pin).
type trust struct {
	pin    *Pin
	anchor []*x509.Certificate
}

func loadTrust(c Config) (trust, error) {
	var t trust
	if c.CAPin != "" {
		p, err := ParsePin(c.CAPin)
		if err != nil {
			return t, err
		}
		t.pin = &p
	}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return t, fmt.Errorf("agent: CA file: %w", err)
		}
		for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
			if blk.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return t, fmt.Errorf("agent: CA file %s: %w", c.CAFile, err)
			}
			if t.pin == nil || t.pin.Matches(cert.Raw) {
				t.anchor = append(t.anchor, cert)
			}
		}
		if len(t.anchor) == 0 {
			return t, fmt.Errorf("agent: CA file %s holds no certificate (matching the CA pin, if one is given)", c.CAFile)
		}
	}
	if t.pin == nil && t.anchor == nil {
		return t, errors.New("agent: not enrolled and neither a CA pin nor a CA file is given")
	}
	return t, nil
}

// verify checks the server chain presented during enrollment and returns
// the CA it chains to.
func (t trust) verify(chain []*x509.Certificate, serverName string) (*x509.Certificate, error) {
	if t.anchor == nil {
		return verifyPinned(chain, *t.pin, serverName)
	}
	if len(chain) == 0 {
		return nil, errors.New("server presented no certificate")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range t.anchor {
		roots.AddCert(c)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: serverName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return nil, fmt.Errorf("server certificate does not verify against the CA file: %w", err)
	}
	return chains[0][len(chains[0])-1], nil
}

// trusts reports whether ca is a CA this trust accepts.
func (t trust) trusts(ca *x509.Certificate) bool {
	if t.pin != nil && !t.pin.Matches(ca.Raw) {
		return false
	}
	if t.anchor == nil {
		return true
	}
	for _, a := range t.anchor {
		if a.Equal(ca) {
			return true
		}
	}
	return false
}

// enroll obtains the node's certificate, retrying servers that cannot be
// reached (ibexd may be starting) with back-off until ctx ends; errors
// that need an operator come back at once as *EnrollError.
func (a *Agent) enroll(ctx context.Context) (*identity, error) {
	if a.cfg.JoinToken == "" {
		return nil, fmt.Errorf("agent: %s has no node certificate and no join token was given: ask an ibex admin for a join token for node %s (Fleet.CreateJoinToken) and pass it with the CA pin ibexd prints",
			a.cfg.DataDir, a.cfg.Node)
	}
	tr, err := loadTrust(a.cfg)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(a.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	csr, err := makeCSR(a.cfg.Node, key)
	if err != nil {
		return nil, err
	}
	bo := newBackoff(a.cfg.BackoffMin, a.cfg.BackoffMax)
	for {
		var errs []error
		for _, addr := range a.cfg.Servers {
			id, err := a.enrollOnce(ctx, addr, tr, key, csr)
			if err == nil {
				if err := id.save(a.cfg.DataDir); err != nil {
					return nil, err
				}
				a.log.Info("enrolled", "server", addr, "ca", PinCA(id.ca), "cert_expires", id.cert.NotAfter.Format(time.RFC3339))
				return id, nil
			}
			var fatal *EnrollError
			if errors.As(err, &fatal) {
				return nil, err
			}
			errs = append(errs, err)
		}
		d := bo.next()
		a.log.Warn("enrollment failed, retrying", "err", errors.Join(errs...), "retry_in", d)
		if err := sleepCtx(ctx, d); err != nil {
			return nil, err
		}
	}
}

// enrollOnce calls Enroll on one server. The TLS session does not verify
// the server the usual way (there is nothing to verify against yet);
// VerifyConnection checks the chain against the pin or CA file, and
// because it runs inside the handshake, the join token is never sent to a
// server that failed it.
func (a *Agent) enrollOnce(ctx context.Context, addr string, tr trust, key *ecdsa.PrivateKey, csr []byte) (*identity, error) {
	var mu sync.Mutex
	var trustErr error
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		ServerName:         a.cfg.ServerName,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := tr.verify(cs.PeerCertificates, a.cfg.ServerName)
			if err != nil {
				mu.Lock()
				trustErr = err
				mu.Unlock()
			}
			return err
		},
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, &EnrollError{Server: addr, Err: err}
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, a.cfg.DialTimeout)
	defer cancel()
	resp, err := pb.NewAgentsClient(conn).Enroll(cctx, &pb.EnrollRequest{Node: a.cfg.Node, JoinToken: a.cfg.JoinToken, CsrPem: csr})
	mu.Lock()
	terr := trustErr
	mu.Unlock()
	if terr != nil {
		return nil, &EnrollError{Server: addr, Err: fmt.Errorf("server not trusted, join token not sent: %w", terr)}
	}
	if err != nil {
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.FailedPrecondition,
			codes.NotFound, codes.AlreadyExists, codes.Unimplemented:
			return nil, &EnrollError{Server: addr, Err: fmt.Errorf("enrollment refused: %w", err)}
		}
		return nil, fmt.Errorf("enroll via %s: %w", addr, err)
	}
	id, err := checkEnrollResponse(resp, a.cfg.Node, key, tr)
	if err != nil {
		return nil, &EnrollError{Server: addr, Err: err}
	}
	return id, nil
}

// checkEnrollResponse refuses anything but a certificate for this node
// and key, signed by a CA the node trusts, so a bad answer fails now and
// not as a mystery on every later connection.
func checkEnrollResponse(resp *pb.EnrollResponse, node string, key *ecdsa.PrivateKey, tr trust) (*identity, error) {
	ca, err := parseCertPEM(resp.GetCaPem())
	if err != nil {
		return nil, fmt.Errorf("enroll response: CA: %w", err)
	}
	if !ca.IsCA || !tr.trusts(ca) {
		return nil, fmt.Errorf("enroll response: the returned CA %s is not the trusted one", PinCA(ca))
	}
	cert, err := parseCertPEM(resp.GetCertPem())
	if err != nil {
		return nil, fmt.Errorf("enroll response: certificate: %w", err)
	}
	id := &identity{key: key, cert: cert, ca: ca, gossip: gossipSettings{Key: resp.GetGossipKey(), Seeds: resp.GetGossipSeeds()}}
	if err := id.check(node); err != nil {
		return nil, fmt.Errorf("enroll response: %w", err)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("enroll response: certificate expired at %s", cert.NotAfter)
	}
	if k := id.gossip.Key; k != "" {
		if _, err := decodeGossipKey(k); err != nil {
			return nil, fmt.Errorf("enroll response: %w", err)
		}
	}
	return id, nil
}

// decodeGossipKey decodes a base64 memberlist key (16, 24 or 32 bytes:
// AES-128/192/256).
func decodeGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gossip key: not base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("gossip key: %d bytes, want 16, 24 or 32", len(k))
}
