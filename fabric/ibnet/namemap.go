package ibnet

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// NameMap maps node GUIDs (or CA port GUIDs) to names. It overrides what
// Parse derives from node descriptions, for switches and CAs alike.
//
// The file format read by ParseNameMap is one entry per line:
//
//	# comments and blank lines are ignored
//	0x0002c903000482cc  node042        # GUID, with or without 0x
//	H-0002c903000482cc  node042        # an ibnetdiscover node ID (as in PSMN's X5.map)
//	0008f10500108c5c    spine1         # switches can be named too
//	0x0002c90300048208  "node043 HCA-1"  # quoted node description, as in
//	                                     # ibnetdiscover --node-name-map files
//	0x946dae0300630bfe  -              # "-": this CA is not a host
//
// A quoted value that contains spaces is a node description: its host part
// is used ("node043"). Names must be usable in topology.conf (no spaces,
// commas, brackets, '=' or '#'). Several GUIDs may share one host name:
// that is how a multi-HCA host whose HCAs have no descriptions is named.
type NameMap map[uint64]string

// Excluded is the NameMap value that removes a CA from the hosts.
const Excluded = "-"

// ParseNameMap reads a NameMap file; errors name the offending line.
func ParseNameMap(r io.Reader) (NameMap, error) {
	m := make(NameMap)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		key, rest := nextField(s)
		guid, err := mapGUID(key)
		if err != nil {
			return nil, errorf(n, "bad GUID %q in name map", clip(key))
		}
		name, err := mapValue(strings.TrimSpace(rest))
		if err != nil {
			return nil, errorf(n, "%v", err)
		}
		if old, ok := m[guid]; ok && old != name {
			return nil, errorf(n, "GUID %#x mapped to both %q and %q", guid, old, name)
		}
		m[guid] = name
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ibnet: reading name map: %w", err)
	}
	return m, nil
}

// mapGUID accepts "0x...", bare hex, and "S-/H-/R-<guid>" node IDs.
func mapGUID(s string) (uint64, error) {
	if _, g := kindFromID(s); g != 0 {
		return g, nil
	}
	return parseGUID(s)
}

func mapValue(s string) (string, error) {
	var v, after string
	if strings.HasPrefix(s, "\"") {
		var err error
		if v, after, err = cutQuoted(s); err != nil {
			return "", fmt.Errorf("unterminated quote in %q", clip(s))
		}
	} else {
		v, after = nextField(s)
	}
	if a := strings.TrimSpace(after); a != "" && a[0] != '#' {
		return "", fmt.Errorf("unexpected %q after the name", clip(a))
	}
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fmt.Errorf("missing name")
	case v == Excluded:
		return v, nil
	case strings.ContainsAny(v, " \t"):
		h, ok := hostFromDesc(v)
		if !ok {
			return "", fmt.Errorf("no host name in description %q", clip(v))
		}
		return h, nil
	case !validName(v):
		return "", fmt.Errorf("name %q cannot be used in topology.conf", clip(v))
	}
	return v, nil
}

// lookup finds a node's entry by node GUID, then by any port GUID.
func (m NameMap) lookup(n *Node) (string, bool) {
	if len(m) == 0 {
		return "", false
	}
	if n.GUID != 0 {
		if v, ok := m[n.GUID]; ok {
			return v, true
		}
	}
	for _, p := range n.Ports {
		if p != nil && p.GUID != 0 {
			if v, ok := m[p.GUID]; ok {
				return v, true
			}
		}
	}
	return "", false
}

// validName reports whether s can stand in a topology.conf hostlist.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(",[]=#\"'\\", c) >= 0 {
			return false
		}
	}
	return true
}
