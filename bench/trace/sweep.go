package trace

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/scheduler"
)

// A sweep is a trade-off curve: copies of one policy with knobs of its
// compact placement set to a list of values each (ibex-trace --sweep), so
// that the share of jobs at the leaf lower bound can be read against mean
// bounded slowdown in one run, next to the baselines.

// Knob is one policy setting a sweep can vary.
type Knob struct {
	Name string
	Doc  string
	set  func(p *scheduler.Policy, v float64)
}

// Knobs lists what --sweep can vary.
var Knobs = []Knob{
	{"compact-max-share", "Policy.CompactMaxShare: jobs over this share of the hosts skip the compact waits (0: none do)",
		func(p *scheduler.Policy, v float64) { p.CompactMaxShare = v }},
	{"backfill-wait-factor", "Policy.BackfillWaitFactor: a backfill waits for its bound only if due within this many time limits (0: always waits)",
		func(p *scheduler.Policy, v float64) { p.BackfillWaitFactor = v }},
	{"bound-wait-factor", "Policy.BoundWaitFactor: a job that could start now waits for its bound at most this many time limits (0: BoundWait only)",
		func(p *scheduler.Policy, v float64) { p.BoundWaitFactor = v }},
	{"age-weight", "Policy.AgeWeight: priority of a day's wait (fair share is worth 10000)",
		func(p *scheduler.Policy, v float64) { p.AgeWeight = v }},
	{"backfill-at-bound", "Policy.BackfillAtBound: 1 lets a job start ahead of a waiting job only on its fewest leaves",
		func(p *scheduler.Policy, v float64) { p.BackfillAtBound = v != 0 }},
	{"slowdown-weight", "Policy.SlowdownWeight: priority per unit of the slowdown a job would have if it started now",
		func(p *scheduler.Policy, v float64) { p.SlowdownWeight = v }},
	{"slowdown-max", "Policy.SlowdownMax: cap on that slowdown (0: none)",
		func(p *scheduler.Policy, v float64) { p.SlowdownMax = v }},
	{"hold-nodes", "Policy.HoldNodes: 1 makes the head job's hold a node set chosen on the tree, 0 a count",
		func(p *scheduler.Policy, v float64) { p.HoldNodes = v != 0 }},
	{"align-ends", "Policy.AlignEnds: 1 puts a one-leaf job on the leaf whose running jobs it outlasts least",
		func(p *scheduler.Policy, v float64) { p.AlignEnds = v != 0 }},
	{"bound-wait-hours", "Policy.BoundWait in hours: the longest wait for a placement at the bound",
		func(p *scheduler.Policy, v float64) { p.BoundWait = time.Duration(v * float64(time.Hour)) }},
}

// Sweep is one knob and its values.
type Sweep struct {
	Knob   string
	Values []float64
}

// Limits on a sweep given on the command line.
const (
	maxSweepText   = 1024
	maxSweepValues = 64
)

// ParseSweep reads KNOB=V1,V2,... (see Knobs); values are finite and not
// negative.
func ParseSweep(s string) (Sweep, error) {
	if len(s) > maxSweepText {
		return Sweep{}, fmt.Errorf("sweep longer than %d bytes", maxSweepText)
	}
	name, list, ok := strings.Cut(s, "=")
	if !ok || list == "" {
		return Sweep{}, fmt.Errorf("sweep %q: want KNOB=V1,V2,... with KNOB one of %s", s, knobNames())
	}
	if knob(name) == nil {
		return Sweep{}, fmt.Errorf("sweep: unknown knob %q (want one of %s)", name, knobNames())
	}
	parts := strings.Split(list, ",")
	if len(parts) > maxSweepValues {
		return Sweep{}, fmt.Errorf("sweep %s: %d values, at most %d", name, len(parts), maxSweepValues)
	}
	sw := Sweep{Knob: name}
	for _, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return Sweep{}, fmt.Errorf("sweep %s: %q is not a number >= 0", name, p)
		}
		sw.Values = append(sw.Values, v)
	}
	return sw, nil
}

func knob(name string) *Knob {
	for i := range Knobs {
		if Knobs[i].Name == name {
			return &Knobs[i]
		}
	}
	return nil
}

func knobNames() string {
	var n []string
	for _, k := range Knobs {
		n = append(n, k.Name)
	}
	return strings.Join(n, ", ")
}

// SweepPolicies is base under every combination of the sweeps' values
// (the first sweep varies slowest), each named base[knob=v,...]. At most
// maxSweepValues policies.
func SweepPolicies(base scheduler.Policy, sweeps []Sweep) ([]scheduler.Policy, error) {
	out := []scheduler.Policy{base}
	names := []string{""}
	for _, sw := range sweeps {
		k := knob(sw.Knob)
		if k == nil {
			return nil, fmt.Errorf("sweep: unknown knob %q", sw.Knob)
		}
		if len(out)*len(sw.Values) > maxSweepValues {
			return nil, fmt.Errorf("sweep: more than %d combinations", maxSweepValues)
		}
		var next []scheduler.Policy
		var nn []string
		for i, p := range out {
			for _, v := range sw.Values {
				q := p
				k.set(&q, v)
				next = append(next, q)
				nn = append(nn, names[i]+","+k.Name+"="+strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		out, names = next, nn
	}
	if len(sweeps) == 0 {
		return nil, nil
	}
	for i := range out {
		out[i].Name = base.Name + "[" + names[i][1:] + "]"
	}
	return out, nil
}
