// Package pkeypool chooses InfiniBand partition keys for allocations: the
// lowest key of the pool that no live allocation holds and that has cooled
// down since its last release, or, with one partition per tenant, the key
// the tenant's live allocations already share. It is pure: the FSM keeps
// the facts (live keys, release times) and re-checks every choice.
package pkeypool

import (
	"errors"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Pool is the operator's key policy.
type Pool struct {
	// Min..Max is the pool (default 0x1000..0x7ffe: low keys stay the
	// operators').
	Min, Max uint16
	// Cooldown is how long a released key rests before reuse, so a
	// straggling packet of the last tenant cannot reach the next.
	Cooldown time.Duration
	// PerTenant gives all of a tenant's live allocations one key.
	PerTenant bool
}

// Defaults for a zero Pool.
const (
	DefaultMin      = 0x1000
	DefaultMax      = 0x7ffe
	DefaultCooldown = 30 * time.Second
)

// WithDefaults fills zero fields and checks the bounds.
func (p Pool) WithDefaults() (Pool, error) {
	if p.Min == 0 {
		p.Min = DefaultMin
	}
	if p.Max == 0 {
		p.Max = DefaultMax
	}
	if p.Cooldown == 0 {
		p.Cooldown = DefaultCooldown
	}
	if p.Min > p.Max || p.Max >= 0x7fff {
		return p, fmt.Errorf("partition key pool %#04x..%#04x: want 0x0001 <= min <= max <= 0x7ffe", p.Min, p.Max)
	}
	return p, nil
}

// String is the pool as operators write it.
func (p Pool) String() string { return fmt.Sprintf("%#04x..%#04x", p.Min, p.Max) }

// ErrExhausted means every key is live or cooling; jobs wait.
var ErrExhausted = errors.New("partition key pool exhausted")

// Pass hands out keys for one scheduling pass, remembering what it gave so
// two allocations of one pass never get the same key.
type Pass struct {
	pool      Pool
	used      map[uint16]bool
	tenantKey map[string]uint16
	released  map[uint16]time.Time
	now       time.Time
}

// NewPass starts a pass over the live jobs and the keys' release times.
func (p Pool) NewPass(active []*model.Job, released map[uint16]time.Time, now time.Time) *Pass {
	a := &Pass{pool: p, used: map[uint16]bool{}, tenantKey: map[string]uint16{}, released: released, now: now}
	for _, j := range active {
		if j.PKey != 0 {
			a.used[j.PKey] = true
			a.tenantKey[j.Tenant] = j.PKey
		}
	}
	return a
}

// Key returns the key for a new allocation of tenant. shared is true when
// the key is the tenant's existing partition (PerTenant).
func (a *Pass) Key(tenant string) (key uint16, shared bool, err error) {
	if k, ok := a.tenantKey[tenant]; ok && a.pool.PerTenant {
		return k, true, nil
	}
	for k := a.pool.Min; k <= a.pool.Max && k != 0; k++ {
		if a.used[k] {
			continue
		}
		if at, ok := a.released[k]; ok && a.now.Sub(at) < a.pool.Cooldown {
			continue
		}
		a.used[k] = true
		a.tenantKey[tenant] = k
		return k, false, nil
	}
	return 0, false, fmt.Errorf("%w (%s)", ErrExhausted, a.pool)
}
