package testcluster

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/internal/catrust"
)

// The servers serve TLS (unless extra says --plaintext or --insecure): they
// bootstrap with --peers, so the first of them creates the cluster CA in
// Dir/cluster-ca.pem, next to the admin token, and the others read it
// there, as servers of one host do. Clients pin that CA.

// CAFile is the cluster CA the servers share.
func (h *Cluster) CAFile() string { return filepath.Join(h.Dir, "cluster-ca.pem") }

// Plaintext reports whether the servers run without TLS.
func (h *Cluster) Plaintext() bool {
	return slices.Contains(h.extra, "--plaintext") || slices.Contains(h.extra, "--insecure")
}

// CAPin is the cluster CA's pin (what --join-ca-pin and clients' ca_pin
// take), waiting for the first server to create the CA.
func (h *Cluster) CAPin() string {
	h.t.Helper()
	if h.pin != "" {
		return h.pin
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(h.CAFile())
		if err == nil {
			if cas, err := catrust.ParseCAs(b); err == nil {
				h.pin = catrust.PinOf(cas[0].Raw).String()
				return h.pin
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no cluster CA in %s: %v\n%s", h.CAFile(), err, h.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Trust is how clients check the servers: the CA pin, or plaintext.
func (h *Cluster) Trust() client.Option {
	if h.Plaintext() {
		return client.WithPlaintext()
	}
	return client.WithCAPin(h.CAPin())
}
