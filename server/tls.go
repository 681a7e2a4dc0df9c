package server

// TLS on every channel of ibexd: the API (tenants, the CLI, processes in
// jobs), forwarding between servers, join, and raft.
//
// Each server holds, in DATADIR/tls/:
//
//	ca.pem          the cluster CA certificate: what it trusts peers by,
//	                and what pinned clients' ca_pin is the hash of
//	ca.pin          that pin, for an admin to copy (IBEX_CA_PIN)
//	server.pem      its server certificate (pki.IssueServer) and the CA
//	server-key.pem  its key, never sent anywhere
//	ca-key.pem      the CA key, only on a server that bootstrapped the
//	                cluster and only until the CA is in the replicated state
//
// How a server gets them before its first client or peer connects:
//
//   - bootstrapping alone (--bootstrap without --peers, and --dev): it
//     creates the CA and signs its own certificate; its first leader
//     set-up puts that CA into the replicated state (leaderSetup).
//   - bootstrapping with --peers: raft cannot run before the servers share
//     a CA, so they share it as they share the admin token: a file,
//     ClusterCAFile (default cluster-ca.pem next to the admin token file),
//     holding the CA certificate and key. The first server of --peers
//     creates it if it is missing; the others wait for it (on one host they
//     find it at once; on several hosts the operator copies it, as the
//     admin token).
//   - joining (--join): it makes a key and a certificate request, checks
//     the server it joins through against JoinCAPin (that server's chain
//     must hold the CA with that hash, so the admin token goes nowhere
//     else), and the leader signs the request (Servers.Certificate, admin
//     only).
//
// Afterwards every server renews its own certificate from the replicated
// CA (whose key every server holds through raft) when a third of its
// lifetime is left or its names changed (maintain).

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibex-hpc/ibex/internal/catrust"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/cluster"
	"github.com/ibex-hpc/ibex/server/pki"
)

const (
	tlsDirName     = "tls"
	caFile         = "ca.pem"
	caPinFile      = "ca.pin" // the pin of ca.pem, for IBEX_CA_PIN=$(cat ...)
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
	// renewEvery is how often a running server checks its certificate.
	renewEvery = 6 * time.Hour
)

// serverTLS is one server's certificates and the TLS configs made of them.
// A nil *serverTLS is a plaintext server (Config.Plaintext): every method
// then returns the plaintext equivalent.
type serverTLS struct {
	dir  string
	id   string
	sans pki.SANs
	log  *slog.Logger

	ca       *x509.Certificate // the trust anchor, fixed for the process
	caKeyPEM string            // bootstrapping servers only (ca-key.pem)
	cert     atomic.Pointer[tls.Certificate]
	operator *tls.Certificate // --tls-cert/--tls-key, for clients not asking for pki.ServerName

	mu sync.Mutex // serialises renewals
}

// setupTLS loads or obtains this server's certificates (see the top of
// this file). It returns nil for a plaintext server.
func setupTLS(ctx context.Context, cfg Config, adminToken func() string) (*serverTLS, error) {
	if cfg.Plaintext {
		return nil, nil
	}
	t := &serverTLS{dir: filepath.Join(cfg.DataDir, tlsDirName), id: cfg.NodeID, log: cfg.Logger}
	var err error
	if t.sans, err = serverSANs(cfg); err != nil {
		return nil, err
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		t.operator = &c
	}
	if err := cluster.PrivateDir(t.dir); err != nil {
		return nil, fmt.Errorf("tls dir: %w", err)
	}
	loaded, err := t.load()
	if err != nil {
		return nil, err
	}
	if loaded {
		return t, t.refreshLocal()
	}
	existing, err := cluster.HasState(cluster.Config{NodeID: cfg.NodeID, DataDir: filepath.Join(cfg.DataDir, "raft"), LogStore: cfg.LogStore})
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Join != "":
		err = t.joinCertificate(ctx, cfg, adminToken())
	case existing:
		err = fmt.Errorf("%s holds raft state but no TLS certificate (%s): its data predates TLS or the directory was removed. "+
			"Start it once with --plaintext (loopback) or --insecure: it then writes its certificate from the replicated CA, and uses TLS from the next start",
			cfg.DataDir, filepath.Join(t.dir, serverCertFile))
	case cfg.Bootstrap && len(cfg.Peers) == 0:
		var certPEM, keyPEM string
		if certPEM, keyPEM, err = pki.NewCA(); err == nil {
			err = t.adoptCA(certPEM, keyPEM)
		}
	case cfg.Bootstrap:
		err = t.sharedCA(ctx, cfg)
	default:
		err = errors.New("a new server needs --bootstrap (a new cluster) or --join (an existing one) to get its TLS certificate")
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// serverSANs are the names this server's certificate is valid for besides
// pki.ServerName: its listen, advertise and raft hosts (every interface
// address for a wildcard), loopback, the host name, and --tls-san.
func serverSANs(cfg Config) (pki.SANs, error) {
	var s pki.SANs
	addIP := func(ip net.IP) {
		if !slices.ContainsFunc(s.IPs, ip.Equal) {
			s.IPs = append(s.IPs, ip)
		}
	}
	addDNS := func(d string) {
		if d != "" && !slices.Contains(s.DNS, d) {
			s.DNS = append(s.DNS, d)
		}
	}
	addHost := func(h string) {
		if ip := net.ParseIP(h); ip != nil {
			if ip.IsUnspecified() {
				addrs, _ := net.InterfaceAddrs()
				for _, a := range addrs {
					if n, ok := a.(*net.IPNet); ok {
						addIP(n.IP)
					}
				}
				return
			}
			addIP(ip)
			return
		}
		addDNS(h)
	}
	for _, a := range []string{cfg.Listen, cfg.AdvertiseAPI, cfg.RaftAddr} {
		if h, _, err := net.SplitHostPort(a); err == nil {
			addHost(h)
		}
	}
	addDNS("localhost")
	addIP(net.IPv4(127, 0, 0, 1))
	addIP(net.IPv6loopback)
	if h, err := os.Hostname(); err == nil {
		addDNS(h)
	}
	for _, san := range cfg.TLSSANs {
		if san == "" {
			continue
		}
		if ip := net.ParseIP(san); ip != nil {
			addIP(ip)
		} else {
			addDNS(san)
		}
	}
	if len(s.DNS)+len(s.IPs) > 60 { // pki's limit, with room for pki.ServerName
		return s, fmt.Errorf("the server certificate would carry %d names; at most 60 (fewer --tls-san, or listen on one address instead of a wildcard)", len(s.DNS)+len(s.IPs))
	}
	return s, nil
}

func (t *serverTLS) path(name string) string { return filepath.Join(t.dir, name) }

// load reads the files of an earlier start; false if there is no
// certificate yet.
func (t *serverTLS) load() (bool, error) {
	certPEM, err := os.ReadFile(t.path(serverCertFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	caPEM, err := os.ReadFile(t.path(caFile))
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	cas, err := catrust.ParseCAs(caPEM)
	if err != nil {
		return false, fmt.Errorf("tls: %s: %w", t.path(caFile), err)
	}
	t.ca = cas[0]
	if _, err := os.Stat(t.path(caPinFile)); err != nil {
		if err := t.writeCA(); err != nil {
			return false, err
		}
	}
	if k, err := os.ReadFile(t.path(caKeyFile)); err == nil {
		t.caKeyPEM = string(k)
	}
	keyPEM, err := os.ReadFile(t.path(serverKeyFile))
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("tls: %s: %w", t.path(serverCertFile), err)
	}
	if err := t.checkCert(&c); err != nil {
		return false, err
	}
	t.cert.Store(&c)
	return true, nil
}

// checkCert makes sure a certificate is a current server certificate of
// this server's CA.
func (t *serverTLS) checkCert(c *tls.Certificate) error {
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(t.ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: pki.ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("tls: %s does not verify against %s: %w (remove %s and join the cluster again)", t.path(serverCertFile), t.path(caFile), err, t.dir)
	}
	if !pki.IsServerCert(leaf) {
		return fmt.Errorf("tls: %s is not a server certificate", t.path(serverCertFile))
	}
	c.Leaf = leaf
	return nil
}

// adoptCA makes certPEM/keyPEM this server's CA (a bootstrapping server),
// keeps the key until the replicated state has the CA, and issues this
// server's certificate from it.
func (t *serverTLS) adoptCA(certPEM, keyPEM string) error {
	ca, err := pki.Parse(model.ClusterSecrets{CACertPEM: certPEM, CAKeyPEM: keyPEM})
	if err != nil {
		return err
	}
	t.ca = ca.Cert()
	t.caKeyPEM = keyPEM
	if err := writePrivate(t.path(caKeyFile), []byte(keyPEM)); err != nil {
		return err
	}
	if err := t.writeCA(); err != nil {
		return err
	}
	return t.issue(ca)
}

// writeCA writes ca.pem and ca.pin.
func (t *serverTLS) writeCA() error {
	if err := writePrivate(t.path(caFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.ca.Raw})); err != nil {
		return err
	}
	return writePrivate(t.path(caPinFile), []byte(t.Pin()+"\n"))
}

// issue signs a new certificate for this server with ca, writes it and
// makes it current.
func (t *serverTLS) issue(ca *pki.CA) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	certPEM, err := ca.IssueServer(t.id, t.sans, &key.PublicKey)
	if err != nil {
		return err
	}
	return t.install(certPEM, key)
}

// install checks and writes a certificate for key, then serves it.
func (t *serverTLS) install(certPEM []byte, key crypto.Signer) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	chain := append(append([]byte{}, certPEM...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.ca.Raw})...)
	c, err := tls.X509KeyPair(chain, keyPEM)
	if err != nil {
		return err
	}
	if err := t.checkCert(&c); err != nil {
		return err
	}
	if err := writePrivate(t.path(serverKeyFile), keyPEM); err != nil {
		return err
	}
	if err := writePrivate(t.path(serverCertFile), chain); err != nil {
		return err
	}
	t.cert.Store(&c)
	return nil
}

// refreshLocal renews the certificate at start when it is due and this
// server still holds the CA key; otherwise maintain does it from the
// replicated CA.
func (t *serverTLS) refreshLocal() error {
	if t.caKeyPEM == "" || !t.due() {
		return nil
	}
	ca, err := pki.Parse(model.ClusterSecrets{CACertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.ca.Raw})), CAKeyPEM: t.caKeyPEM})
	if err != nil {
		return err
	}
	return t.issue(ca)
}

// due reports whether the certificate should be renewed: a third of its
// lifetime left, or a name it should carry missing.
func (t *serverTLS) due() bool {
	c := t.cert.Load()
	if c == nil {
		return true
	}
	leaf := c.Leaf
	if time.Until(leaf.NotAfter) < leaf.NotAfter.Sub(leaf.NotBefore)/3 {
		return true
	}
	for _, d := range t.sans.DNS {
		if !slices.Contains(leaf.DNSNames, d) {
			return true
		}
	}
	for _, ip := range t.sans.IPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return true
		}
	}
	return false
}

// sharedCA reads the CA that servers bootstrapping together share, or
// creates it on the first of them (see the top of this file).
func (t *serverTLS) sharedCA(ctx context.Context, cfg Config) error {
	path := cfg.ClusterCAFile
	first := cfg.Peers[0].ID == cfg.NodeID
	if first {
		if err := createSharedCA(path); err != nil {
			return err
		}
	}
	warned := time.Time{}
	for {
		certPEM, keyPEM, err := readSharedCA(path)
		if err == nil {
			return t.adoptCA(certPEM, keyPEM)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if time.Since(warned) > 15*time.Second {
			t.log.Warn("waiting for the cluster CA: the first server of --peers creates it; on other hosts copy it here, as the admin token",
				"file", path, "first", cfg.Peers[0].ID)
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the cluster CA at %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// createSharedCA writes a new CA to path unless a file is there already;
// servers on one host starting at once agree on one CA (the link is
// atomic).
func createSharedCA(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	certPEM, keyPEM, err := pki.NewCA()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(certPEM + keyPEM)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cluster CA: %w", err)
	}
	return nil
}

// maxSharedCA bounds the shared CA file: one certificate and one key.
const maxSharedCA = 64 << 10

func readSharedCA(path string) (certPEM, keyPEM string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	if len(b) > maxSharedCA {
		return "", "", fmt.Errorf("cluster CA %s: larger than %d KiB", path, maxSharedCA>>10)
	}
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		p := string(pem.EncodeToMemory(blk))
		switch blk.Type {
		case "CERTIFICATE":
			certPEM = p
		case "EC PRIVATE KEY":
			keyPEM = p
		}
	}
	if certPEM == "" || keyPEM == "" {
		return "", "", fmt.Errorf("cluster CA %s: want a CERTIFICATE and an EC PRIVATE KEY block", path)
	}
	return certPEM, keyPEM, nil
}

// writePrivate writes a file only its owner reads, atomically.
func writePrivate(path string, b []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an older tmp with other modes
		return err
	}
	return os.Rename(tmp, path)
}

// bootstrapSecrets are the cluster secrets a leader puts into a state
// that has none: around this server's CA when it bootstrapped one, so the
// certificates already issued stay valid; a new CA otherwise (plaintext).
func (t *serverTLS) bootstrapSecrets() (model.ClusterSecrets, error) {
	if t == nil || t.caKeyPEM == "" {
		return pki.NewClusterSecrets()
	}
	return pki.SecretsWithCA(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.ca.Raw})), t.caKeyPEM)
}

// maintain runs while the server does: once the replicated state has the
// CA it drops the bootstrap copy of the CA key, and renews this server's
// certificate when due. A plaintext server writes its certificate too,
// so that it can start with TLS next time.
func (s *Server) maintainTLS(ctx context.Context) {
	for {
		ca, err := pki.Wait(ctx, s.store)
		if err != nil {
			return
		}
		if s.tls != nil {
			s.tls.renew(ca)
		} else {
			s.writeCertForLater(ca)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(renewEvery):
		}
	}
}

func (t *serverTLS) renew(ca *pki.CA) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ca.Cert().Equal(t.ca) {
		t.log.Error("the replicated cluster CA is not the one this server trusts; not renewing its certificate",
			"trusted", catrust.PinOf(t.ca.Raw).String(), "replicated", catrust.PinOf(ca.Cert().Raw).String())
		return
	}
	if t.caKeyPEM != "" {
		if err := os.Remove(t.path(caKeyFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.log.Warn("remove the bootstrap copy of the CA key", "err", err)
		}
		t.caKeyPEM = ""
	}
	if !t.due() {
		return
	}
	if err := t.issue(ca); err != nil {
		t.log.Error("renew this server's certificate", "err", err)
		return
	}
	t.log.Info("renewed this server's certificate", "expires", t.cert.Load().Leaf.NotAfter)
}

// writeCertForLater gives a plaintext server the files a TLS start needs,
// from the replicated CA, if it has none.
func (s *Server) writeCertForLater(ca *pki.CA) {
	dir := filepath.Join(s.cfg.DataDir, tlsDirName)
	if _, err := os.Stat(filepath.Join(dir, serverCertFile)); err == nil {
		return
	}
	t := &serverTLS{dir: dir, id: s.cfg.NodeID, log: s.log, ca: ca.Cert()}
	var err error
	if t.sans, err = serverSANs(s.cfg); err == nil {
		if err = cluster.PrivateDir(dir); err == nil {
			if err = t.writeCA(); err == nil {
				err = t.issue(ca)
			}
		}
	}
	if err != nil {
		s.log.Warn("write a certificate for a later start with TLS", "err", err)
	}
}
