package sm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// NameOK reports whether a partition name is safe for every driver:
// 1-31 bytes (OpenSM stores 31), starting with a letter (OpenSM reads
// a leading digit as a P_Key), then letters, digits, '_', '-' or '.'
// (no ',', '=', ':', ';', '#' or blanks, which are its delimiters).
func NameOK(name string) bool {
	if len(name) == 0 || len(name) > 31 {
		return false
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// ValidateDesired checks a desired set before any driver acts on it,
// so a bad request fails before it can disturb the fabric: valid
// unique keys, safe unique names, non-zero GUIDs, no port listed twice
// in one partition.
func ValidateDesired(desired []Partition) error {
	var errs []error
	keys := map[PKey]string{}
	names := map[string]PKey{}
	for _, p := range desired {
		if !p.PKey.Valid() {
			errs = append(errs, fmt.Errorf("partition %q: P_Key %s outside 0x0001..0x7ffe", p.Name, p.PKey))
		}
		if !NameOK(p.Name) {
			errs = append(errs, fmt.Errorf("partition %q: name must be 1-31 of [A-Za-z0-9_.-] starting with a letter", p.Name))
		}
		if other, ok := keys[p.PKey]; ok {
			errs = append(errs, fmt.Errorf("partitions %q and %q share P_Key %s", other, p.Name, p.PKey))
		}
		keys[p.PKey] = p.Name
		if _, ok := names[p.Name]; ok {
			errs = append(errs, fmt.Errorf("partition name %q used twice", p.Name))
		}
		names[p.Name] = p.PKey
		seen := map[GUID]bool{}
		for _, m := range p.Members {
			if m.GUID == 0 {
				errs = append(errs, fmt.Errorf("partition %q: zero GUID", p.Name))
			}
			if m.Membership != Full && m.Membership != Limited {
				errs = append(errs, fmt.Errorf("partition %q: port %s: bad membership %d", p.Name, m.GUID, m.Membership))
			}
			if seen[m.GUID] {
				errs = append(errs, fmt.Errorf("partition %q: port %s listed twice", p.Name, m.GUID))
			}
			seen[m.GUID] = true
		}
	}
	return errors.Join(errs...)
}

// Normalize returns a copy of desired sorted by P_Key with members
// sorted by GUID, so equal sets compare and render identically.
func Normalize(desired []Partition) []Partition {
	out := make([]Partition, len(desired))
	for i, p := range desired {
		p.Members = slices.Clone(p.Members)
		slices.SortFunc(p.Members, func(a, b Member) int { return cmpGUID(a.GUID, b.GUID) })
		out[i] = p
	}
	slices.SortFunc(out, func(a, b Partition) int {
		if a.PKey != b.PKey {
			return int(a.PKey) - int(b.PKey)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func cmpGUID(a, b GUID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Expected computes the P_Key table each of ports should hold for the
// desired set under rules. It models CA ports only (switch ports and
// the SM's own port get full default membership and are not tenants).
func Expected(desired []Partition, rules DefaultRules, ports []GUID) map[GUID]Table {
	full := map[GUID]bool{}
	for _, g := range rules.Full {
		full[g] = true
	}
	raw := map[GUID][]uint16{}
	for _, g := range ports {
		m := rules.Tenants
		if full[g] {
			m = Full
		}
		raw[g] = []uint16{uint16(MakeEntry(DefaultPKey, m))}
	}
	for _, p := range desired {
		for _, m := range p.Members {
			if r, ok := raw[m.GUID]; ok {
				raw[m.GUID] = append(r, uint16(MakeEntry(p.PKey, m.Membership)))
			}
		}
	}
	out := make(map[GUID]Table, len(raw))
	for g, r := range raw {
		out[g] = NewTable(r...)
	}
	return out
}

// MemberGUIDs returns every port named by desired, sorted, once each.
func MemberGUIDs(desired []Partition) []GUID {
	var gs []GUID
	for _, p := range desired {
		for _, m := range p.Members {
			gs = append(gs, m.GUID)
		}
	}
	slices.Sort(gs)
	return slices.Compact(gs)
}
