package pkeypool

import (
	"errors"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func TestKeyChoice(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := Pool{Min: 0x10, Max: 0x13, Cooldown: 30 * time.Second}
	live := []*model.Job{{Tenant: "a", PKey: 0x10}}
	released := map[uint16]time.Time{0x11: now.Add(-10 * time.Second), 0x12: now.Add(-31 * time.Second)}
	for _, tc := range []struct {
		name      string
		perTenant bool
		tenants   []string
		want      []uint16
		wantErr   bool
	}{
		{name: "lowest free, skipping live and cooling keys", tenants: []string{"b"}, want: []uint16{0x12}},
		{name: "one pass never repeats a key", tenants: []string{"b", "c"}, want: []uint16{0x12, 0x13}},
		{name: "exhausted", tenants: []string{"b", "c", "d"}, want: []uint16{0x12, 0x13}, wantErr: true},
		{name: "a tenant's own allocations get their own keys by default", tenants: []string{"a"}, want: []uint16{0x12}},
		{name: "per tenant: the tenant's live key is shared", perTenant: true, tenants: []string{"a", "b", "b"}, want: []uint16{0x10, 0x12, 0x12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pool
			p.PerTenant = tc.perTenant
			pass := p.NewPass(live, released, now)
			var got []uint16
			var err error
			for _, ten := range tc.tenants {
				var k uint16
				if k, _, err = pass.Key(ten); err != nil {
					break
				}
				got = append(got, k)
			}
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrExhausted)) {
				t.Fatalf("err = %v, want exhausted: %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("keys %#x, want %#x", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("keys %#x, want %#x", got, tc.want)
				}
			}
		})
	}
}

func TestCooldownEnds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := Pool{Min: 0x10, Max: 0x10, Cooldown: time.Minute}
	released := map[uint16]time.Time{0x10: now}
	if _, _, err := pool.NewPass(nil, released, now.Add(59*time.Second)).Key("a"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a key 59 s after release: err %v, want exhausted", err)
	}
	if k, _, err := pool.NewPass(nil, released, now.Add(time.Minute)).Key("a"); err != nil || k != 0x10 {
		t.Fatalf("after the cool-down: key %#x err %v", k, err)
	}
}

func TestDefaultsAndBounds(t *testing.T) {
	p, err := Pool{}.WithDefaults()
	if err != nil || p.Min != DefaultMin || p.Max != DefaultMax || p.Cooldown != DefaultCooldown {
		t.Fatalf("defaults %+v %v", p, err)
	}
	for _, bad := range []Pool{{Min: 0x20, Max: 0x10}, {Min: 1, Max: 0x7fff}} {
		if _, err := bad.WithDefaults(); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}
