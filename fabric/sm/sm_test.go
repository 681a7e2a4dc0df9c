package sm

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTableIsASet(t *testing.T) {
	// keep_pkey_indexes leaves holes; order and holes must not matter.
	a := NewTable(0xffff, 0x0000, 0x8002, 0x0000, 0x7fff)
	b := NewTable(0x7fff, 0x8002, 0xffff)
	if !a.Equal(b) || a.String() != "0x7fff,0x8002,0xffff" {
		t.Fatalf("%v vs %v", a, b)
	}
	if NewTable(0x8000, 0).String() != "" {
		t.Fatal("0x8000 is an empty slot too")
	}
	if !a.HasKey(2) || a.Has(MakeEntry(2, Limited)) || !a.Has(MakeEntry(2, Full)) {
		t.Fatal("membership bit")
	}
	if e := Entry(0x0001); e.Membership() != Limited || e.PKey() != 1 {
		t.Fatal("limited = bit 15 clear")
	}
	if d := NewTable(0x7fff, 0x8001).Diff(NewTable(0x7fff, 0x8002)); !strings.Contains(d, "missing [0x8001]") || !strings.Contains(d, "unexpected [0x8002]") {
		t.Fatal(d)
	}
}

func TestParseGUID(t *testing.T) {
	for in, want := range map[string]GUID{"0x0002c90300000011": 0x2c90300000011, "0002c90300000011": 0x2c90300000011, "17": 17} {
		if g, err := ParseGUID(in); err != nil || g != want {
			t.Errorf("%q: %v %v", in, g, err)
		}
	}
	for _, bad := range []string{"", "0", "0xzz", "-1"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidateDesired(t *testing.T) {
	ok := []Partition{{Name: "job-1", PKey: 1, Members: []Member{{GUID: 0x11, Membership: Full}}}}
	if err := ValidateDesired(ok); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]Partition{
		"pkey 0":        {{Name: "a", PKey: 0}},
		"pkey 0x7fff":   {{Name: "a", PKey: 0x7fff}},
		"pkey 0x8001":   {{Name: "a", PKey: 0x8001}},
		"digit name":    {{Name: "1a", PKey: 1}},
		"comma":         {{Name: "a,b", PKey: 1}},
		"long name":     {{Name: strings.Repeat("a", 32), PKey: 1}},
		"dup pkey":      {{Name: "a", PKey: 1}, {Name: "b", PKey: 1}},
		"dup name":      {{Name: "a", PKey: 1}, {Name: "a", PKey: 2}},
		"zero guid":     {{Name: "a", PKey: 1, Members: []Member{{}}}},
		"dup member":    {{Name: "a", PKey: 1, Members: []Member{{GUID: 1}, {GUID: 1, Membership: Full}}}},
		"bad member m.": {{Name: "a", PKey: 1, Members: []Member{{GUID: 1, Membership: 7}}}},
	}
	for name, ps := range bad {
		if err := ValidateDesired(ps); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExpected(t *testing.T) {
	desired := []Partition{
		{Name: "a", PKey: 0x0001, Members: []Member{{GUID: 1, Membership: Full}, {GUID: 2, Membership: Limited}}},
		{Name: "b", PKey: 0x0002, Members: []Member{{GUID: 2, Membership: Full}}},
	}
	rules := TenantIsolation
	rules.Full = []GUID{9}
	got := Expected(desired, rules, []GUID{1, 2, 3, 9})
	want := map[GUID]string{1: "0x7fff,0x8001", 2: "0x0001,0x7fff,0x8002", 3: "0x7fff", 9: "0xffff"}
	for g, w := range want {
		if got[g].String() != w {
			t.Errorf("port %d: %v want %s", g, got[g], w)
		}
	}
}

// gatedDriver blocks its first Apply until released and records the
// size of each desired set it is given.
type gatedDriver struct {
	gate  chan struct{}
	calls atomic.Int32
	mu    sync.Mutex
	seen  []int
}

func (d *gatedDriver) Apply(ctx context.Context, desired []Partition) error {
	if d.calls.Add(1) == 1 {
		<-d.gate
	}
	d.mu.Lock()
	d.seen = append(d.seen, len(desired))
	d.mu.Unlock()
	return nil
}

func (d *gatedDriver) Observe(ctx context.Context, ports []GUID) (map[GUID]Table, error) {
	return nil, nil
}

func TestCoalescer(t *testing.T) {
	d := &gatedDriver{gate: make(chan struct{})}
	c := &Coalescer{D: d}
	var wg sync.WaitGroup
	apply := func(n int) {
		defer wg.Done()
		if err := c.Apply(context.Background(), make([]Partition, n)); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go apply(1)
	for d.calls.Load() == 0 { // the first Apply is running (blocked)
		time.Sleep(time.Millisecond)
	}
	for i := 2; i <= 50; i++ {
		wg.Add(1)
		go apply(i)
	}
	time.Sleep(50 * time.Millisecond) // let the 49 queue up
	close(d.gate)
	wg.Wait()
	// 49 requests arriving during one Apply share the next one, which
	// carries the newest snapshot submitted.
	if n := d.calls.Load(); n != 2 {
		t.Fatalf("50 requests became %d driver Applies %v, want 2", n, d.seen)
	}
	if d.seen[0] != 1 || d.seen[1] < 2 {
		t.Fatalf("Applies saw %v", d.seen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Apply(ctx, nil); err != nil && err != context.Canceled {
		t.Fatal(err)
	}
}
