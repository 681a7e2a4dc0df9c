package ibnet

import (
	"fmt"
	"strconv"
	"strings"
)

// portsParser reads `ibnetdiscover -p`, one line per port of every node:
//
//	CA   134  1 0x7cfe9003003b4bde 4x EDR - SW  1719 10 0x7cfe9003009ce5b0 ( 'o0001 HCA-1' - 'ib-i1l1s01' )
//	SW  2052 37 0x506b4b03005c2740 4x ???                                    'ib-i4l1s01'
//
// Each cable therefore appears twice, once from each end, and down ports
// appear once with no remote half.
type portsParser struct{ b *builder }

// isPortsLine tells a `-p` dump from the record format by its first line.
func isPortsLine(s string) bool {
	t, rest := nextField(s)
	if portsKind(t) == KindUnknown {
		return false
	}
	lid, _ := nextField(rest)
	_, err := strconv.ParseUint(lid, 10, 16)
	return err == nil
}

func portsKind(t string) NodeKind {
	switch t {
	case "SW":
		return KindSwitch
	case "CA":
		return KindCA
	case "RT":
		return KindRouter
	}
	return KindUnknown
}

// portsEnd is one "TYPE LID PORT GUID" half of a `-p` line.
type portsEnd struct {
	kind NodeKind
	lid  uint16
	port int
	guid uint64
}

func readPortsEnd(s string) (portsEnd, string, error) {
	var e portsEnd
	t, s := nextField(s)
	if e.kind = portsKind(t); e.kind == KindUnknown {
		return e, s, fmt.Errorf("node type %q is not SW, CA or RT", clip(t))
	}
	lidTok, s := nextField(s)
	lid, err := parseLID(lidTok)
	if err != nil {
		return e, s, err
	}
	portTok, s := nextField(s)
	if e.port, err = strconv.Atoi(portTok); err != nil {
		return e, s, fmt.Errorf("bad port number %q", clip(portTok))
	}
	guidTok, s := nextField(s)
	if e.guid, err = parseGUID(guidTok); err != nil {
		return e, s, fmt.Errorf("bad GUID %q", clip(guidTok))
	}
	e.lid = lid
	return e, s, nil
}

func (p *portsParser) line(n int, s string) error {
	if s == "" {
		return nil
	}
	local, rest, err := readPortsEnd(s)
	if err != nil {
		return errorf(n, "%v", err)
	}
	wTok, rest := nextField(rest)
	sTok, rest := nextField(rest)
	rate := Rate{Width: parseWidth(wTok), Speed: parseSpeed(sTok)}
	lp, err := p.end(local, n)
	if err != nil {
		return err
	}
	lp.Node.declared = true
	rest = strings.TrimSpace(rest)
	dash, after := nextField(rest)
	if dash != "-" {
		// A down port: only the node description follows.
		setDesc(lp.Node, unquote(rest), true)
		lp.Rate = rate
		return p.b.markDown(lp, n)
	}
	remote, tail, err := readPortsEnd(after)
	if err != nil {
		return errorf(n, "%v", err)
	}
	ld, rd, ok := splitPortsDescs(tail)
	if !ok {
		return errorf(n, "expected ( 'desc' - 'remote desc' ), got %q", clip(strings.TrimSpace(tail)))
	}
	rp, err := p.end(remote, n)
	if err != nil {
		return err
	}
	setDesc(lp.Node, ld, true)
	setDesc(rp.Node, rd, false)
	return p.b.connect(lp, rp, rate, n)
}

// end finds or creates the port of one line half. The dialect prints port
// GUIDs only; for switches that is the node GUID, for CAs it stands in for
// one.
func (p *portsParser) end(e portsEnd, line int) (*Port, error) {
	prefix := "H-"
	switch e.kind {
	case KindSwitch:
		prefix = "S-"
	case KindRouter:
		prefix = "R-"
	}
	n := p.b.node(fmt.Sprintf("%s%016x", prefix, e.guid), line)
	pt, err := p.b.port(n, e.port, line)
	if err != nil {
		return nil, err
	}
	if e.kind == KindSwitch {
		p.b.setNodeLID(n, e.lid, line)
	} else {
		p.b.setPortLID(pt, e.lid, line)
		if err := p.b.setPortGUID(pt, e.guid, line); err != nil {
			return nil, err
		}
	}
	return pt, nil
}

// splitPortsDescs reads "( 'local desc' - 'remote desc' )". Some tools
// strip the quotes, so "( a - b )" is accepted too.
func splitPortsDescs(s string) (local, remote string, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return "", "", false
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	if a, b, found := strings.Cut(s, "' - '"); found && strings.HasPrefix(a, "'") && strings.HasSuffix(b, "'") {
		return a[1:], b[:len(b)-1], true
	}
	a, b, found := strings.Cut(s, " - ")
	return unquote(a), unquote(b), found
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
