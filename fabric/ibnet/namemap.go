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

// ParseNameMap reads a NameMap file; errors name the offending line. A
// host's role after its name (see ParseMapRoles) is accepted and left out.
func ParseNameMap(r io.Reader) (NameMap, error) {
	m, _, err := parseMap(r)
	return m, err
}

// ParseMapRoles reads the roles a name map gives hosts: an entry may end
// with "infra" (the host is infrastructure: login, storage, management,
// never scheduled unless labelled) or "compute" (a compute node whatever
// its HCA layout), before an optional comment:
//
//	0x0002c903000482cc  login01  infra
//	H-0002c90300048208  gpu0042  compute   # one rail cable is down
//
// The result is by host name.
func ParseMapRoles(r io.Reader) (map[string]HostClass, error) {
	_, roles, err := parseMap(r)
	return roles, err
}

func parseMap(r io.Reader) (NameMap, map[string]HostClass, error) {
	m := make(NameMap)
	roles := map[string]HostClass{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		key, rest := nextField(s)
		guid, err := mapGUID(key)
		if err != nil {
			return nil, nil, errorf(n, "bad GUID %q in name map", clip(key))
		}
		name, role, err := mapValue(strings.TrimSpace(rest))
		if err != nil {
			return nil, nil, errorf(n, "%v", err)
		}
		if old, ok := m[guid]; ok && old != name {
			return nil, nil, errorf(n, "GUID %#x mapped to both %q and %q", guid, old, name)
		}
		m[guid] = name
		if role == "" {
			continue
		}
		c := ClassCompute
		if role == "infra" {
			c = ClassInfra
		}
		if name == Excluded {
			return nil, nil, errorf(n, "%q: an excluded CA (-) has no role", role)
		}
		if old, ok := roles[name]; ok && old != c {
			return nil, nil, errorf(n, "host %q is both %s and %s", name, old, c)
		}
		roles[name] = c
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("ibnet: reading name map: %w", err)
	}
	return m, roles, nil
}

// mapGUID accepts "0x...", bare hex, and "S-/H-/R-<guid>" node IDs.
func mapGUID(s string) (uint64, error) {
	if _, g := kindFromID(s); g != 0 {
		return g, nil
	}
	return parseGUID(s)
}

func mapValue(s string) (name, role string, err error) {
	var v, after string
	if strings.HasPrefix(s, "\"") {
		if v, after, err = cutQuoted(s); err != nil {
			return "", "", fmt.Errorf("unterminated quote in %q", clip(s))
		}
	} else {
		v, after = nextField(s)
	}
	if a := strings.TrimSpace(after); a != "" && a[0] != '#' {
		w, rest := nextField(a)
		if r := strings.TrimSpace(rest); (w != "infra" && w != "compute") || r != "" && r[0] != '#' {
			return "", "", fmt.Errorf("unexpected %q after the name (want infra, compute or a # comment)", clip(a))
		}
		role = w
	}
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", "", fmt.Errorf("missing name")
	case v == Excluded:
		return v, role, nil
	case strings.ContainsAny(v, " \t"):
		h, ok := hostFromDesc(v)
		if !ok {
			return "", "", fmt.Errorf("no host name in description %q", clip(v))
		}
		return h, role, nil
	case !validName(v):
		return "", "", fmt.Errorf("name %q cannot be used in topology.conf", clip(v))
	}
	return v, role, nil
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
