package ibnet

import (
	"fmt"
	"strconv"
	"strings"
)

// maxPort is the largest IB port number (PortNum is 8 bits, 255 reserved).
const maxPort = 254

// builder collects nodes, ports and links for both dialects and enforces
// that every port is cabled to at most one other port.
type builder struct {
	f *Fabric
}

func newBuilder() *builder {
	return &builder{f: &Fabric{byID: make(map[string]*Node), byGUID: make(map[uint64]*Node)}}
}

func (b *builder) warnf(line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	b.f.Warnings = append(b.f.Warnings, msg)
}

// node returns the node with the given ID, creating an undeclared one (kind
// guessed from an ibnetdiscover "S-/H-/R-<guid>" ID) at its first mention.
func (b *builder) node(id string, line int) *Node {
	if n := b.f.byID[id]; n != nil {
		return n
	}
	n := &Node{ID: strings.Clone(id), Line: line}
	n.Kind, n.GUID = kindFromID(id)
	b.f.byID[n.ID] = n
	b.f.Nodes = append(b.f.Nodes, n)
	return n
}

// kindFromID decodes ibnetdiscover's node IDs, which are the node type
// letter and the 16-digit node GUID.
func kindFromID(id string) (NodeKind, uint64) {
	if len(id) != 18 || id[1] != '-' {
		return KindUnknown, 0
	}
	g, err := strconv.ParseUint(id[2:], 16, 64)
	if err != nil {
		return KindUnknown, 0
	}
	switch id[0] {
	case 'S':
		return KindSwitch, g
	case 'H':
		return KindCA, g
	case 'R':
		return KindRouter, g
	}
	return KindUnknown, 0
}

// port returns port num of n, creating it at its first mention.
func (b *builder) port(n *Node, num, line int) (*Port, error) {
	if num < 1 || num > maxPort {
		return nil, errorf(line, "%s: port %d out of range 1-%d", n.ID, num, maxPort)
	}
	if n.declared && n.NumPorts > 0 && num > n.NumPorts {
		return nil, errorf(line, "%s has %d ports, no port %d", n.ID, n.NumPorts, num)
	}
	if num >= len(n.Ports) {
		grown := make([]*Port, max(num+1, n.NumPorts+1))
		copy(grown, n.Ports)
		n.Ports = grown
	}
	p := n.Ports[num]
	if p == nil {
		p = &Port{Node: n, Num: num, Line: line}
		n.Ports[num] = p
	}
	return p, nil
}

func (b *builder) setPortGUID(p *Port, guid uint64, line int) error {
	if p.GUID != 0 && p.GUID != guid {
		return errorf(line, "%s has port GUID %#x here but %#x at line %d", p, guid, p.GUID, p.Line)
	}
	p.GUID = guid
	return nil
}

func (b *builder) setNodeLID(n *Node, lid uint16, line int) {
	switch {
	case lid == 0:
	case n.LID == 0:
		n.LID = lid
	case n.LID != lid:
		b.warnf(line, "%s has LID %d here but %d earlier", n.ID, lid, n.LID)
	}
}

func (b *builder) setPortLID(p *Port, lid uint16, line int) {
	switch {
	case lid == 0:
	case p.LID == 0:
		p.LID = lid
	case p.LID != lid:
		b.warnf(line, "%s has LID %d here but %d earlier", p, lid, p.LID)
	}
}

// setDesc keeps the first description seen unless the node's own
// declaration supplies one, which is authoritative.
func setDesc(n *Node, desc string, own bool) {
	desc = strings.TrimSpace(desc)
	if desc != "" && (n.Desc == "" || own) {
		n.Desc = strings.Clone(desc)
	}
}

// connect records that port a's line (the "declaring" end) says it is
// cabled to r with rate. The mirror declaration from r's own record is
// merged; anything else that would give a port a second peer is an error,
// because a model with such a port cannot be trusted for placement.
func (b *builder) connect(a, r *Port, rate Rate, line int) error {
	if a == r {
		return errorf(line, "%s is cabled to itself", a)
	}
	if a.down != 0 {
		return errorf(line, "%s is listed as down at line %d but cabled to %s here", a, a.down, r)
	}
	if r.down != 0 {
		return errorf(line, "%s is listed as down at line %d but cabled to %s here", r, r.down, a)
	}
	a.Rate = rate
	if l := a.Link; l != nil {
		if a.Remote() != r {
			return conflict(a, r, line)
		}
		decl := &l.declA
		if l.B == a {
			decl = &l.declB
		}
		if *decl != 0 {
			b.warnf(line, "%s declared again (first at line %d)", a, *decl)
		}
		*decl = line
		if l.Rate.Known() && rate.Known() && l.Rate != rate {
			b.warnf(line, "%s reports %s, %s reported %s; using the slower", a, rate, a.Remote(), l.Rate)
		}
		l.Rate = minRate(l.Rate, rate)
		return nil
	}
	if r.Link != nil {
		return conflict(r, a, line)
	}
	l := &Link{A: a, B: r, Rate: rate, Line: line, declA: line}
	a.Link, r.Link = l, l
	b.f.Links = append(b.f.Links, l)
	return nil
}

// conflict reports port p, already cabled elsewhere, being cabled to other.
func conflict(p, other *Port, line int) error {
	return errorf(line, "%s is cabled to %s at line %d, but this line cables it to %s",
		p, p.Remote(), p.Link.Line, other)
}

// markDown records a port that the dump lists as not connected.
func (b *builder) markDown(p *Port, line int) error {
	if p.Link != nil {
		return errorf(line, "%s is listed as down, but line %d cables it to %s", p, p.Link.Line, p.Remote())
	}
	if p.down == 0 {
		p.down = line
	}
	return nil
}

// finish checks what can only be checked once the whole dump is read.
func (b *builder) finish() error {
	f := b.f
	for _, n := range f.Nodes {
		if n.Kind == KindUnknown {
			return errorf(n.Line, "node %q is referenced but never declared, so its type is unknown", n.ID)
		}
		if n.NumPorts == 0 {
			n.NumPorts = max(len(n.Ports)-1, 0)
		}
		if n.GUID != 0 {
			if o := f.byGUID[n.GUID]; o != nil {
				return errorf(n.Line, "%s has node GUID %#x, already used by %s (line %d)", n.ID, n.GUID, o.ID, o.Line)
			}
			f.byGUID[n.GUID] = n
		}
		if n.Kind != KindSwitch && n.LID == 0 {
			for _, p := range n.Ports {
				if p != nil && p.LID != 0 {
					n.LID = p.LID
					break
				}
			}
		}
	}
	for _, l := range f.Links {
		if l.declB == 0 && l.B.Node.declared {
			b.warnf(l.Line, "only %s lists the cable to %s; %s's own record does not", l.A, l.B, l.B.Node.ID)
		}
	}
	return nil
}
