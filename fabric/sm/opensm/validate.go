package opensm

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Validator checks a rendered partitions.conf before it is installed.
type Validator interface {
	Validate(ctx context.Context, conf []byte) error
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, conf []byte) error

// Validate calls f.
func (f ValidatorFunc) Validate(ctx context.Context, conf []byte) error { return f(ctx, conf) }

// Validate checks conf with our grammar and fails on anything OpenSM
// would reject or silently reinterpret (Severity Error).
func Validate(conf []byte) error { return Parse(conf).Err(Error) }

// ValidateStrict also fails on warnings. Files we render must pass it.
func ValidateStrict(conf []byte) error { return Parse(conf).Err(Warning) }

// Partitions returns the tenant partitions of a parsed file (every
// definition but 0x7fff, merged by P_Key as OpenSM merges them, with
// "both" read as full as OpenSM does without allow_both_pkeys).
// Keywords (ALL, SELF, ...) in tenant partitions are not represented
// and reported as an error, since ibex never writes them there.
func (f *File) Partitions() ([]sm.Partition, error) {
	byKey := map[sm.PKey]*sm.Partition{}
	var order []sm.PKey
	var errs []error
	for _, d := range f.Defs {
		if !d.HasPKey || d.PKey&0x7fff == 0 {
			errs = append(errs, fmt.Errorf("line %d: partition %q has no explicit P_Key", d.Line, d.Name))
			continue
		}
		key := sm.PKey(d.PKey & 0x7fff)
		if key == sm.DefaultPKey {
			continue
		}
		p, ok := byKey[key]
		if !ok {
			p = &sm.Partition{Name: d.Name, PKey: key}
			byKey[key] = p
			order = append(order, key)
		}
		p.IPoIB = p.IPoIB || d.IPoIB
		for _, port := range d.Ports {
			if port.Keyword != "" {
				errs = append(errs, fmt.Errorf("line %d: %s in tenant partition %q", port.Line, port.Keyword, d.Name))
				continue
			}
			m := sm.Limited
			if port.Membership != "limited" {
				m = sm.Full
			}
			i := slices.IndexFunc(p.Members, func(x sm.Member) bool { return x.GUID == port.GUID })
			if i >= 0 {
				p.Members[i].Membership = m // last wins
			} else {
				p.Members = append(p.Members, sm.Member{GUID: port.GUID, Membership: m})
			}
		}
	}
	out := make([]sm.Partition, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return sm.Normalize(out), errors.Join(errs...)
}

// checkRoundTrip proves that conf means desired: it must pass the
// strict grammar and parse back to exactly the desired partitions.
// This catches a renderer bug before OpenSM ever sees the file.
func checkRoundTrip(conf []byte, desired []sm.Partition) error {
	f := Parse(conf)
	if err := f.Err(Warning); err != nil {
		return err
	}
	got, err := f.Partitions()
	if err != nil {
		return err
	}
	want := sm.Normalize(desired)
	if !slices.EqualFunc(got, want, func(a, b sm.Partition) bool {
		return a.Name == b.Name && a.PKey == b.PKey && a.IPoIB == b.IPoIB && slices.Equal(a.Members, b.Members)
	}) {
		return fmt.Errorf("partitions.conf does not parse back to the desired partitions")
	}
	return nil
}
