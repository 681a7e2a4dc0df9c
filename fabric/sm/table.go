package sm

import (
	"fmt"
	"slices"
	"strings"
)

// Entry is one raw 16-bit P_Key table value: the low 15 bits are the
// key, bit 15 set means full membership. 0x0000 is an empty slot.
type Entry uint16

// MakeEntry builds the table value for key p with membership m.
func MakeEntry(p PKey, m Membership) Entry {
	e := Entry(p & 0x7fff)
	if m == Full {
		e |= 0x8000
	}
	return e
}

// PKey returns the 15-bit key.
func (e Entry) PKey() PKey { return PKey(e & 0x7fff) }

// Membership returns Full when bit 15 is set.
func (e Entry) Membership() Membership {
	if e&0x8000 != 0 {
		return Full
	}
	return Limited
}

// String renders the raw value as 0x%04x, as smpquery prints it.
func (e Entry) String() string { return fmt.Sprintf("0x%04x", uint16(e)) }

// Table is a port's P_Key table compared as a set: sorted, without
// duplicates and without empty slots. Why a set: OpenSM keeps P_Keys
// at stable indexes (keep_pkey_indexes), so a removed key leaves a
// 0x0000 hole and the index of a key says nothing.
type Table []Entry

// NewTable normalises raw table values into a Table.
func NewTable(raw ...uint16) Table {
	t := make(Table, 0, len(raw))
	for _, v := range raw {
		if v&0x7fff != 0 { // 0x0000 and 0x8000 are both "no key"
			t = append(t, Entry(v))
		}
	}
	slices.Sort(t)
	return slices.Compact(t)
}

// Equal reports whether two tables hold the same entries.
func (t Table) Equal(u Table) bool { return slices.Equal(t, u) }

// Has reports whether the table holds exactly entry e.
func (t Table) Has(e Entry) bool {
	_, ok := slices.BinarySearch(t, e)
	return ok
}

// HasKey reports whether the table holds key p with any membership.
func (t Table) HasKey(p PKey) bool {
	return t.Has(MakeEntry(p, Limited)) || t.Has(MakeEntry(p, Full))
}

// String renders "0x7fff,0x8001".
func (t Table) String() string {
	s := make([]string, len(t))
	for i, e := range t {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

// Diff describes how got differs from want, for error messages.
func (want Table) Diff(got Table) string {
	var missing, extra []string
	for _, e := range want {
		if !got.Has(e) {
			missing = append(missing, e.String())
		}
	}
	for _, e := range got {
		if !want.Has(e) {
			extra = append(extra, e.String())
		}
	}
	return fmt.Sprintf("missing [%s] unexpected [%s]", strings.Join(missing, " "), strings.Join(extra, " "))
}
