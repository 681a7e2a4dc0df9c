package opensm

import (
	"net/netip"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Items of a definition: header flags, ports and multicast groups.

// parseHeader reads "name=pkey, flag, flag=value" and opens a definition.
func (p *parser) parseHeader(h string) *Definition {
	d := &Definition{Line: p.line, DefMember: "limited", Flags: map[string]uint64{}}
	p.f.Defs = append(p.f.Defs, d)
	toks := strings.Split(h, ",")
	name, id, hasID := nameToken(toks[0])
	for _, t := range toks[1:] {
		flag, val, hasVal := nameToken(t)
		if flag == "" {
			p.errf("bad partition flags (empty flag)")
			continue
		}
		p.headerFlag(d, flag, val, hasVal)
	}
	if !hasID && name != "" && name[0] >= '0' && name[0] <= '9' {
		id, hasID, name = name, true, "" // OpenSM: a leading digit makes it the P_Key
	}
	d.Name = name
	if len(name) > 31 {
		p.warnf("partition name %q is cut to 31 bytes by OpenSM", name)
	}
	if !hasID {
		p.warnf("partition %q has no P_Key: OpenSM generates one, which is not stable", name)
		return d
	}
	n := parseCNumber(id)
	switch {
	case !n.ok:
		p.errf("bad partition definition: P_Key %q is not a number", id)
		return d
	case n.signed || n.overflow || n.val > 0xffff:
		p.errf("P_Key %q does not fit 16 bits (OpenSM would silently truncate it)", id)
		return d
	case n.octal:
		p.warnf("P_Key %q is octal (leading 0)", id)
	}
	d.PKey, d.HasPKey = uint16(n.val), true
	if n.val&0x8000 != 0 {
		p.warnf("P_Key %s: bit 15 is ignored (membership is per port)", id)
	}
	if n.val&0x7fff == 0 {
		p.warnf("P_Key %s is 0: OpenSM generates one, which is not stable", id)
		return d
	}
	if p.seen == nil {
		p.seen = map[uint16]*Definition{}
	}
	key := uint16(n.val & 0x7fff)
	if prev, ok := p.seen[key]; ok && prev.Name != d.Name {
		p.warnf("P_Key 0x%04x also defined as %q on line %d: merged under the first name", key, prev.Name, prev.Line)
	}
	if _, ok := p.seen[key]; !ok {
		p.seen[key] = d
	}
	return d
}

// groupFlags are the multicast group flags valid in a header and on
// mgid lines, in OpenSM's matching order (a prefix matches the first).
var groupFlags = []string{"mtu", "rate", "scope", "Q_Key", "TClass", "sl", "FlowLabel"}

// groupFlag resolves an abbreviated group flag and checks its value.
func (p *parser) groupFlag(flag, val string, hasVal bool) (string, uint64, bool) {
	for _, g := range groupFlags {
		if !prefixOf(flag, g) {
			continue
		}
		if flag != g {
			p.warnf("flag %q abbreviates %q", flag, g)
		}
		n := parseCNumber(val)
		max := map[string]uint64{"mtu": 5, "rate": 255, "scope": 15, "Q_Key": 0xffffffff, "TClass": 255, "sl": 15, "FlowLabel": 0xfffff}[g]
		if !hasVal || !n.ok || n.signed || n.overflow || n.val > max ||
			(n.val == 0 && g != "sl" && g != "TClass" && g != "FlowLabel") {
			p.errf("flag %s needs a valid value (got %q): OpenSM would skip it", g, val)
			return g, 0, true
		}
		return g, n.val, true
	}
	return "", 0, false
}

func (p *parser) headerFlag(d *Definition, flag, val string, hasVal bool) {
	if g, v, ok := p.groupFlag(flag, val, hasVal); ok {
		d.Flags[g] = v
		return
	}
	switch {
	case prefixOf(flag, "ipoib"):
		d.IPoIB = true
		if hasVal {
			p.warnf("ipoib takes no value (%q ignored)", val)
		}
	case prefixOf(flag, "defmember"):
		m, ok := membership(val)
		if !hasVal || !ok {
			p.errf("defmember needs full, limited or both (got %q): OpenSM would skip it", val)
			return
		}
		d.DefMember = m
	case prefixOf(flag, "indx0"):
		d.Indx0 = true
	default:
		p.errf("unrecognized partition flag %q: OpenSM would ignore it", flag)
	}
}

// membership resolves an (abbreviated) membership word the way OpenSM
// does: full, then both, then limited.
func membership(w string) (string, bool) {
	if w == "" {
		return "", false
	}
	for _, m := range []string{"full", "both", "limited"} {
		if prefixOf(w, m) {
			return m, true
		}
	}
	return "", false
}

var keywords = []string{"ALL", "ALL_CAS", "ALL_SWITCHES", "ALL_ROUTERS", "SELF"}

func (p *parser) parsePort(name, flag string, hasFlag bool) {
	d := p.cur
	if name == "" {
		if hasFlag {
			p.errf("membership %q without a port", flag)
		}
		return // "a, ,b" and trailing commas are allowed
	}
	if prefixOf(name, "NONE") {
		return
	}
	m := d.DefMember
	if hasFlag {
		var ok bool
		if m, ok = membership(flag); !ok {
			p.errf("membership %q of %s is not full, limited or both: OpenSM would make it limited", flag, name)
			m = "limited"
		} else if m != flag {
			p.warnf("membership %q abbreviates %q", flag, m)
		}
	}
	if m == "both" {
		p.warnf("membership both of %s needs allow_both_pkeys TRUE, else it is full", name)
	}
	port := Port{Line: p.line, Membership: m}
	for _, k := range keywords {
		if prefixOf(name, k) {
			if name != k {
				p.warnf("%q abbreviates %s", name, k)
			}
			port.Keyword = k
			d.Ports = append(d.Ports, port)
			return
		}
	}
	n := parseCNumber(name)
	switch {
	case !n.ok || n.val == 0:
		p.errf("bad PortGUID %q", name)
		return
	case n.signed || n.overflow:
		p.errf("PortGUID %q does not fit 64 bits", name)
		return
	case n.octal:
		p.warnf("PortGUID %q is octal (leading 0)", name)
	}
	port.GUID = sm.GUID(n.val)
	d.Ports = append(d.Ports, port)
	if d.HasPKey {
		p.notePort(d.PKey&0x7fff, port.GUID)
	}
}

func (p *parser) notePort(key uint16, g sm.GUID) {
	if p.port == nil {
		p.port = map[uint16]map[sm.GUID]int{}
	}
	if p.port[key] == nil {
		p.port[key] = map[sm.GUID]int{}
	}
	if prev, ok := p.port[key][g]; ok {
		p.warnf("port %s listed again for P_Key 0x%04x (first on line %d): the last membership wins", g, key, prev)
	}
	p.port[key][g] = p.line
}

// parseMGroup handles "mgid=<gid>[,flag=value]...": the rest of the
// segment belongs to the group, even text that looks like ports.
//
// An mgid with no flag after it is a trap in OpenSM 3.3.23: the flag
// parser starts past the end of the gid's string and reads whatever
// follows in its line buffer. After a ';' that is the next text, and
// the file is rejected; after a '#' it is the comment, whose words are
// taken as flags ("# mtu=5" sets the MTU); at the end of a line it is
// empty and only logs a bogus warning.
func (p *parser) parseMGroup(gid string, hasGID bool, flags []string, semi bool, tail string) {
	d := p.cur
	mg := MGroup{Line: p.line, Flags: map[string]uint64{}}
	for k, v := range d.Flags { // inherit partition flags
		mg.Flags[k] = v
	}
	a, err := netip.ParseAddr(gid)
	if !hasGID || err != nil || !a.Is6() || a.As16()[0] != 0xff {
		p.errf("mgid %q is not an IPv6 multicast GID", gid)
		return
	}
	mg.MGID = a
	if len(flags) == 0 {
		switch {
		case semi:
			p.errf("mgid %s without flags before ';': OpenSM reads past the ';' and rejects the file; add a flag (\",sl=0\")", gid)
		case trimSp(tail) != "":
			p.errf("mgid %s without flags: OpenSM parses the comment after it as group flags; add a flag (\",sl=0\")", gid)
		default:
			p.warnf("mgid %s without flags: OpenSM logs a bogus 'mtu' warning; add a flag (\",sl=0\")", gid)
		}
	}
	for _, t := range flags {
		flag, val, hasVal := nameToken(t)
		if flag == "" {
			if hasVal {
				p.errf("mgroup flag without a name (%q)", t)
			} else {
				p.warnf("empty mgroup flag: OpenSM logs a bogus 'mtu' warning")
			}
			continue
		}
		g, v, ok := p.groupFlag(flag, val, hasVal)
		if !ok {
			p.errf("unrecognized mgroup flag %q: OpenSM would ignore it (an mgid item uses up its line)", flag)
			continue
		}
		mg.Flags[g] = v
	}
	b := a.As16()
	if sig := uint16(b[2])<<8 | uint16(b[3]); sig == 0x401b || sig == 0x601b { // IPoIB group
		mp := uint16(b[4])<<8 | uint16(b[5])
		if mp != 0 && (!d.HasPKey || mp != d.PKey) && !(sig == 0x401b && mp == 0xffff && b[15] == 0xff) {
			p.errf("IP mgid %s carries P_Key 0x%04x, not the partition's", gid, mp)
		}
		for _, f := range []string{"rate", "mtu"} {
			if flagOr(mg.Flags, f) != flagOr(d.Flags, f) {
				p.errf("IP mgid %s: %s differs from the partition's broadcast group", gid, f)
			}
		}
	}
	d.MGroups = append(d.MGroups, mg)
}

// flagOr returns a group flag or OpenSM's default (rate 3 = 10 Gb/s,
// mtu 4 = 2048).
func flagOr(f map[string]uint64, k string) uint64 {
	if v, ok := f[k]; ok {
		return v
	}
	return map[string]uint64{"rate": 3, "mtu": 4}[k]
}

func (p *parser) finishFile() {
	if p.cur != nil && !p.cur.Terminated && !p.cur.placeholder {
		p.warnf("definition of %q (line %d) lacks its final ';'", p.cur.Name, p.cur.Line)
	}
	if len(p.f.Defs) == 0 {
		p.line = 1
		p.errf("no partition definitions: OpenSM treats an empty file as \"Default=0x7fff : ALL=full\" (no isolation)")
	}
}
