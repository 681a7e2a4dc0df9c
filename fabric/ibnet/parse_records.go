package ibnet

import (
	"fmt"
	"strconv"
	"strings"
)

// recordParser reads the default ibnetdiscover output and ibsim net files:
// blank-line separated records of header attributes, one node line and
// its port lines.
type recordParser struct {
	b    *builder
	cur  *Node  // node whose port lines follow
	pend header // attributes seen since the last node line
}

// header holds the "key=value" lines that precede a node line.
type header struct {
	vendID, devID  uint32
	sysImage, guid uint64
	guidKind       NodeKind
	guidLine       int
}

func (p *recordParser) line(n int, s string) error {
	if s == "" {
		p.cur, p.pend = nil, header{}
		return nil
	}
	switch {
	case s[0] == '[':
		return p.portLine(n, s)
	case isAttr(s):
		p.cur = nil // a missing blank line must not glue records together
		return p.attr(n, s)
	case s == "Non-Chassis Nodes" || strings.HasPrefix(s, "Chassis "):
		// Section titles of `ibnetdiscover -g`.
		p.cur, p.pend = nil, header{}
		return nil
	}
	kw, rest := nextField(s)
	var kind NodeKind
	switch {
	case strings.EqualFold(kw, "Switch"):
		kind = KindSwitch
	case strings.EqualFold(kw, "Ca"), strings.EqualFold(kw, "Hca"):
		kind = KindCA
	case strings.EqualFold(kw, "Rt"):
		kind = KindRouter
	default:
		return errorf(n, "unrecognized line %q", clip(s))
	}
	return p.nodeLine(n, kind, rest)
}

// isAttr matches "vendid=0x2c9"-style lines: a lowercase key and "=".
func isAttr(s string) bool {
	k, _, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 'a' || k[i] > 'z' {
			return false
		}
	}
	return true
}

func (p *recordParser) attr(n int, s string) error {
	k, v, _ := strings.Cut(s, "=")
	v, _, _ = strings.Cut(v, "#") // "sysimgguid=0x.. # Chassis 1"
	v, _ = nextField(v)
	var err error
	switch k {
	case "vendid":
		p.pend.vendID, err = parseHex32(v)
	case "devid":
		p.pend.devID, err = parseHex32(v)
	case "sysimgguid":
		p.pend.sysImage, err = parseGUID(v)
	case "switchguid", "caguid", "rtguid", "routerguid":
		// "switchguid=0x8f10500200b50(8f10500200b50)": node GUID, then
		// the GUID of port 0, which we do not need.
		g, _, _ := strings.Cut(v, "(")
		p.pend.guid, err = parseGUID(g)
		p.pend.guidLine = n
		switch k {
		case "switchguid":
			p.pend.guidKind = KindSwitch
		case "caguid":
			p.pend.guidKind = KindCA
		default:
			p.pend.guidKind = KindRouter
		}
	default:
		p.b.warnf(n, "ignored unknown attribute %q", k)
	}
	if err != nil {
		return errorf(n, "bad %s value %q", k, clip(v))
	}
	return nil
}

// nodeLine handles `Switch 36 "S-0008f10500200b50" # "desc" enhanced port 0
// lid 9 lmc 0`, `Ca 2 "H-..." # "desc"` and ibsim's `Hca 2 "Hca1"`.
func (p *recordParser) nodeLine(n int, kind NodeKind, rest string) error {
	numTok, rest := nextField(rest)
	nports, err := strconv.Atoi(numTok)
	if err != nil || nports < 1 || nports > maxPort {
		return errorf(n, "bad port count %q for %s (want 1-%d)", clip(numTok), kind, maxPort)
	}
	id, rest, err := cutQuoted(rest)
	if err != nil || id == "" {
		return errorf(n, "%s line without a quoted node id", kind)
	}
	node := p.b.node(id, n)
	switch {
	case node.declared:
		return errorf(n, "node %s declared twice (first at line %d)", id, node.Line)
	case node.Kind != KindUnknown && node.Kind != kind:
		return errorf(n, "node %s declared as %s, but its ID names a %s", id, kind, node.Kind)
	}
	if pg := p.pend.guid; pg != 0 {
		if p.pend.guidKind != kind {
			return errorf(n, "%s line follows a %s GUID line (line %d)", kind, p.pend.guidKind, p.pend.guidLine)
		}
		if node.GUID != 0 && node.GUID != pg {
			return errorf(n, "node id %s does not match GUID %#x at line %d", id, pg, p.pend.guidLine)
		}
		node.GUID = pg
	}
	for _, pt := range node.Ports {
		if pt != nil && pt.Num > nports {
			return errorf(pt.Line, "%s has %d ports (line %d), no port %d", id, nports, n, pt.Num)
		}
	}
	node.Kind, node.NumPorts, node.declared, node.Line = kind, nports, true, n
	node.VendorID, node.DeviceID, node.SystemGUID = p.pend.vendID, p.pend.devID, p.pend.sysImage
	if len(node.Ports) < nports+1 {
		grown := make([]*Port, nports+1)
		copy(grown, node.Ports)
		node.Ports = grown
	}
	if c, ok := strings.CutPrefix(strings.TrimSpace(rest), "#"); ok {
		desc, after := cutDesc(c)
		setDesc(node, desc, true)
		if kind == KindSwitch {
			if lid, ok, err := findLID(after); err != nil {
				return errorf(n, "%v", err)
			} else if ok {
				p.b.setNodeLID(node, lid, n)
			}
		}
	}
	p.cur, p.pend = node, header{}
	return nil
}

// portRef is one parsed port line. A zero GUID means the line has none.
type portRef struct {
	local, remote         int // port numbers
	localGUID, remoteGUID uint64
	remoteID              string
	comment               portComment
}

// portLine handles a connected port of the current node:
//
//	[3]     "S-0002c903007b78b0"[1]              # "remote desc" lid 19 4xFDR
//	[1](2c903003421b2)  "S-e41d..."[35]          # lid 3 lmc 0 "remote desc" lid 268 4xFDR
//	[12][ext 3]  "H-..."[1](8f10403960559)       # "remote desc" lid 10 4xSDR
//	[1]     "Hca1"[1]                            (ibsim, optionally "w=4")
func (p *recordParser) portLine(n int, s string) error {
	if p.cur == nil {
		return errorf(n, "port line outside a node record")
	}
	ref, msg := parsePortLine(s)
	if msg != "" {
		return errorf(n, "%s", msg)
	}
	return p.apply(n, ref)
}

// parsePortLine returns the fields of a port line, or what is wrong with it.
func parsePortLine(s string) (portRef, string) {
	var ref portRef
	c := &cursor{s: s}
	var ok bool
	if ref.local, ok = c.bracketNum(); !ok {
		return ref, fmt.Sprintf("bad port number in %q", clip(s))
	}
	c.skipExt()
	if ref.localGUID, ok = c.parenHex(); !ok {
		return ref, fmt.Sprintf("bad port GUID in %q", clip(s))
	}
	c.skipSpace()
	if ref.remoteID, ok = c.quoted(); !ok || ref.remoteID == "" {
		return ref, fmt.Sprintf("missing quoted remote node id in %q", clip(s))
	}
	c.skipSpace()
	if ref.remote, ok = c.bracketNum(); !ok {
		return ref, fmt.Sprintf("bad remote port number in %q", clip(s))
	}
	c.skipExt()
	c.skipSpace()
	if ref.remoteGUID, ok = c.parenHex(); !ok {
		return ref, fmt.Sprintf("bad remote port GUID in %q", clip(s))
	}
	rest := strings.TrimSpace(c.rest())
	switch {
	case rest == "":
	case rest[0] == '#':
		var err error
		if ref.comment, err = parsePortComment(rest[1:]); err != nil {
			return ref, err.Error()
		}
	case strings.HasPrefix(rest, "w="): // ibsim width extension
		w, err := strconv.Atoi(strings.TrimSpace(rest[2:]))
		if err != nil || w < 1 || w > 12 {
			return ref, fmt.Sprintf("bad width %q", clip(rest))
		}
		ref.comment.rate.Width = Width(w)
	default:
		return ref, fmt.Sprintf("unexpected %q after the remote port", clip(rest))
	}
	return ref, ""
}

// apply adds a parsed port line of the current node to the fabric.
func (p *recordParser) apply(n int, ref portRef) error {
	b, cm := p.b, ref.comment
	lp, err := b.port(p.cur, ref.local, n)
	if err != nil {
		return err
	}
	if ref.localGUID != 0 {
		if err := b.setPortGUID(lp, ref.localGUID, n); err != nil {
			return err
		}
	}
	b.setPortLID(lp, cm.localLID, n)
	if cm.localLMC > 0 {
		lp.LMC = cm.localLMC
	}
	remote := b.node(ref.remoteID, n)
	rp, err := b.port(remote, ref.remote, n)
	if err != nil {
		return err
	}
	if ref.remoteGUID != 0 {
		if err := b.setPortGUID(rp, ref.remoteGUID, n); err != nil {
			return err
		}
	}
	setDesc(remote, cm.desc, false)
	if remote.Kind == KindSwitch {
		b.setNodeLID(remote, cm.remoteLID, n)
	} else {
		b.setPortLID(rp, cm.remoteLID, n)
	}
	return b.connect(lp, rp, cm.rate, n)
}
