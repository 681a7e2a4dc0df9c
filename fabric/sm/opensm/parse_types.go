package opensm

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Severity orders problems.
type Severity int

const (
	// Warning: legal, but likely not what the author meant (an
	// abbreviation, an auto-generated P_Key, a missing final ';').
	Warning Severity = iota
	// Error: OpenSM would reject the file (and fail open) or silently
	// do something else than the text says.
	Error
)

// Problem is one finding, with its 1-based line.
type Problem struct {
	Line     int
	Severity Severity
	Msg      string
}

func (p Problem) String() string {
	s := "warning"
	if p.Severity == Error {
		s = "error"
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, s, p.Msg)
}

// Port is one item of a definition's port list.
type Port struct {
	Line int
	// Keyword is ALL, ALL_CAS, ALL_SWITCHES, ALL_ROUTERS or SELF;
	// empty for a GUID.
	Keyword string
	GUID    sm.GUID
	// Membership is "full", "limited" or "both" after defmember and
	// abbreviations are resolved.
	Membership string
}

// MGroup is a multicast group line.
type MGroup struct {
	Line  int
	MGID  netip.Addr
	Flags map[string]uint64
}

// Definition is one "header : ports ;" block.
type Definition struct {
	Line    int
	Name    string
	PKey    uint16 // as OpenSM stores it (16 bits, bit 15 not yet dropped)
	HasPKey bool
	IPoIB   bool
	Indx0   bool
	// DefMember is the membership of ports without "=...".
	DefMember string
	// Flags holds numeric group flags (mtu, rate, sl, scope, Q_Key,
	// TClass, FlowLabel) given in the header.
	Flags      map[string]uint64
	Ports      []Port
	MGroups    []MGroup
	Terminated bool // ended with ';'

	placeholder bool // stands in after a broken header; not in File.Defs
}

// File is a parsed partitions.conf.
type File struct {
	Defs     []*Definition
	Problems []Problem
}

// Err returns the problems of at least severity min as one error, or nil.
func (f *File) Err(min Severity) error {
	var ps []Problem
	for _, p := range f.Problems {
		if p.Severity >= min {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return &ParseError{Problems: ps}
}

// ParseError lists problems that make a file unacceptable.
type ParseError struct{ Problems []Problem }

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("partitions.conf rejected:")
	for i, p := range e.Problems {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Problems)-10)
			break
		}
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}
