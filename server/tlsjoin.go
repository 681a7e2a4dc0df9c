package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/internal/catrust"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/pki"
)

// joinCertificate gets a joining server its certificate: a new key and a
// CSR, sent with the admin token to the server named by --join, which
// must prove (inside the TLS handshake, before the token is sent) that
// its chain holds the CA with cfg.JoinCAPin. The answer is checked: the
// pinned CA, a server certificate for this key.
func (t *serverTLS) joinCertificate(ctx context.Context, cfg Config, token string) error {
	if cfg.JoinCAPin == "" {
		return errors.New("--join needs --join-ca-pin: the cluster CA's pin (ca_pin in the admin's CLI config, or printed by `ibex agent token`)")
	}
	pin, err := catrust.ParsePin(cfg.JoinCAPin)
	if err != nil {
		return fmt.Errorf("--join-ca-pin: %w", err)
	}
	if token == "" {
		return fmt.Errorf("--join needs the cluster's admin token in %s", cfg.AdminTokenFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: t.id},
		DNSNames: t.sans.DNS, IPAddresses: t.sans.IPs}, key)
	if err != nil {
		return err
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	creds := catrust.Watch(credentials.NewTLS(catrust.PinnedConfig(pin)))
	conn, err := grpc.NewClient(cfg.Join, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fmt.Errorf("join %s: %w", cfg.Join, err)
	}
	defer conn.Close()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		cctx := metadata.AppendToOutgoingContext(wctx, "authorization", "Bearer "+token)
		resp, err := pb.NewServersClient(conn).Certificate(cctx, &pb.ServerCertificateRequest{Id: t.id, CsrPem: string(csr)})
		if err == nil {
			if err := t.acceptJoinCertificate(resp, pin, key); err != nil {
				return fmt.Errorf("join %s: %w", cfg.Join, err)
			}
			t.log.Info("got this server's certificate from the cluster", "via", cfg.Join, "ca", pin.String())
			return nil
		}
		switch {
		case creds.Failure() != nil:
			return fmt.Errorf("join %s: %w", cfg.Join, creds.Failure())
		case status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded:
			return fmt.Errorf("join %s: certificate refused: %w", cfg.Join, err)
		}
		t.log.Warn("get a certificate from the cluster, retrying", "via", cfg.Join, "err", err)
		select {
		case <-wctx.Done():
			return fmt.Errorf("join %s: %w", cfg.Join, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// acceptJoinCertificate checks the cluster's answer and installs it.
func (t *serverTLS) acceptJoinCertificate(resp *pb.ServerCertificate, pin catrust.Pin, key *ecdsa.PrivateKey) error {
	cas, err := catrust.ParseCAs([]byte(resp.GetCaPem()))
	if err != nil {
		return fmt.Errorf("the CA in the answer: %w", err)
	}
	if !pin.Matches(cas[0].Raw) || !cas[0].IsCA {
		return fmt.Errorf("the answer's CA %s is not the pinned one %s", catrust.PinOf(cas[0].Raw), pin)
	}
	blk, _ := pem.Decode([]byte(resp.GetCertPem()))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return errors.New("the answer holds no certificate")
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("the answer's certificate: %w", err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return errors.New("the answer's certificate is not for this server's key")
	}
	if !pki.IsServerCert(leaf) || leaf.Subject.CommonName != t.id {
		return fmt.Errorf("the answer's certificate is not a server certificate for %q", t.id)
	}
	t.ca = cas[0]
	if err := t.writeCA(); err != nil {
		return err
	}
	return t.install(pem.EncodeToMemory(blk), key)
}
