package control

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/bmc"
)

// RedfishBMCs is the server's BMCs: a Redfish client per node (bmc.Lazy,
// which connects on first use and again after failures, so a dead BMC
// costs its node a retry, not the loop a hang). A node's client is
// replaced when its registration (endpoint, system, login, CA) changes.
type RedfishBMCs struct {
	// DialTimeout, RetryMin and RetryMax tune each bmc.Lazy (zero: its
	// defaults).
	DialTimeout, RetryMin, RetryMax time.Duration

	mu   sync.Mutex
	open map[string]pooledBMC
}

type pooledBMC struct {
	key string
	b   *bmc.Lazy
}

var _ BMCs = (*RedfishBMCs)(nil)

// Open implements BMCs.
func (r *RedfishBMCs) Open(node string, cfg bmc.Config) (bmc.BMC, error) {
	key := configKey(cfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.open[node]; ok {
		if p.key == key {
			return p.b, nil
		}
		_ = p.b.Close()
		delete(r.open, node)
	}
	l, err := bmc.NewLazy(cfg)
	if err != nil {
		return nil, err
	}
	l.DialTimeout, l.RetryMin, l.RetryMax = r.DialTimeout, r.RetryMin, r.RetryMax
	if r.open == nil {
		r.open = map[string]pooledBMC{}
	}
	r.open[node] = pooledBMC{key: key, b: l}
	return l, nil
}

// Close logs out of every BMC.
func (r *RedfishBMCs) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n, p := range r.open {
		_ = p.b.Close()
		delete(r.open, n)
	}
}

// configKey is a digest of what identifies a BMC client, the password
// included; the digest never leaves this process.
func configKey(c bmc.Config) string {
	h := sha256.New()
	for _, f := range []string{c.Endpoint, c.SystemID, c.Username, c.Password.Reveal(), string(c.CAPEM), c.CAFile, c.TLSServerName} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
