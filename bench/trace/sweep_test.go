package trace

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/scheduler"
)

// TestSweepGrid: two sweeps make the grid of their values, first sweep
// slowest, each copy named after its settings and carrying them.
func TestSweepGrid(t *testing.T) {
	a, err := ParseSweep("bound-wait-factor=0,2")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseSweep("backfill-wait-factor=1, 1.5")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := SweepPolicies(scheduler.IbexPolicy(), []Sweep{a, b})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	want := []string{
		"ibex[bound-wait-factor=0,backfill-wait-factor=1]", "ibex[bound-wait-factor=0,backfill-wait-factor=1.5]",
		"ibex[bound-wait-factor=2,backfill-wait-factor=1]", "ibex[bound-wait-factor=2,backfill-wait-factor=1.5]",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	if p := ps[3]; p.BoundWaitFactor != 2 || p.BackfillWaitFactor != 1.5 || !p.BackfillAtBound || p.AgeWeight != 1000 {
		t.Fatalf("last policy %+v", p)
	}
	if p := ps[0]; p.BoundWaitFactor != 0 || p.BackfillWaitFactor != 1 {
		t.Fatalf("first policy %+v", p)
	}
	for _, k := range Knobs {
		sw, err := ParseSweep(k.Name + "=0.3")
		if err != nil {
			t.Fatal(err)
		}
		base := scheduler.EASYPolicy()
		ps, err := SweepPolicies(base, []Sweep{sw})
		if err != nil || len(ps) != 1 {
			t.Fatalf("%s: %v %v", k.Name, ps, err)
		}
		got := ps[0]
		got.Name = base.Name
		if reflect.DeepEqual(got, base) {
			t.Fatalf("%s=0.3 set nothing: %+v", k.Name, ps[0])
		}
	}
}

// TestParseSweepRefuses: the command line's mistakes are named.
func TestParseSweepRefuses(t *testing.T) {
	for in, want := range map[string]string{
		"":                "want KNOB=",
		"age-weight":      "want KNOB=",
		"age-weight=":     "want KNOB=",
		"speed=1":         "unknown knob",
		"age-weight=1,x":  "not a number",
		"age-weight=-1":   "not a number",
		"age-weight=NaN":  "not a number",
		"age-weight=+Inf": "not a number",
		"age-weight=" + strings.Repeat("1,", 65) + "1": "at most 64",
		"age-weight=" + strings.Repeat("1", 2000):      "longer than",
	} {
		_, err := ParseSweep(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSweep(%.40q) = %v, want an error with %q", in, err, want)
		}
	}
	many, _ := ParseSweep("age-weight=" + strings.Repeat("1,", 9) + "1")
	if _, err := SweepPolicies(scheduler.IbexPolicy(), []Sweep{many, many}); err == nil {
		t.Fatal("100 combinations accepted")
	}
}
