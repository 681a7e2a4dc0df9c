package bmc

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxCABytes bounds a CA file: a few certificates are a few KiB, and a
// path pointing at something else must fail fast.
const maxCABytes = 1 << 20

// tlsConfig builds the TLS settings for cfg: the system roots, a pinned
// CA, or (opt-in) no verification.
func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if c.Insecure {
		tc.InsecureSkipVerify = true //nolint:gosec // BMCs ship self-signed certs; opt-in only.
		return tc, nil
	}
	if c.CAFile == "" && len(c.CAPEM) == 0 {
		return tc, nil
	}
	pem := c.CAPEM
	if c.CAFile != "" {
		data, err := readCAFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pem = data
	}
	pool, err := parseCAPEM(pem)
	if err != nil {
		where := "CAPEM"
		if c.CAFile != "" {
			where = "CA file " + c.CAFile
		}
		return nil, fmt.Errorf("bmc: %s: %w", where, err)
	}
	tc.RootCAs = pool
	return tc, nil
}

func readCAFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bmc: CA file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCABytes+1))
	if err != nil {
		return nil, fmt.Errorf("bmc: CA file: %w", err)
	}
	if len(data) > maxCABytes {
		return nil, fmt.Errorf("bmc: CA file %s is larger than %d bytes; it should hold a few PEM certificates", path, maxCABytes)
	}
	return data, nil
}

// parseCAPEM reads every CERTIFICATE block of data into a pool. Anything
// else (a private key pasted by mistake, a DER file, garbage) is an error
// rather than silently an empty pool, which would refuse every BMC with a
// confusing "unknown authority".
func parseCAPEM(data []byte) (*x509.CertPool, error) {
	if len(data) > maxCABytes {
		return nil, fmt.Errorf("larger than %d bytes", maxCABytes)
	}
	pool := x509.NewCertPool()
	n := 0
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE; the file must hold only CA certificates", n+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid certificate: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found; give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the last PEM certificate is not PEM; the file must hold only CA certificates")
	}
	return pool, nil
}
