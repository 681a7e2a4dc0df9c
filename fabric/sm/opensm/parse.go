package opensm

import (
	"fmt"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Our own reading of OpenSM's partitions.conf grammar
// (doc/partition-config.txt, checked against osm_prtn_config.c):
//
//	file       = { definition } ;
//	definition = header ":" [ item { "," item } ] ";"   (may span lines)
//	header     = [ name ] [ "=" pkey ] { "," flag [ "=" value ] }
//	item       = port [ "=" membership ] | "mgid=" gid { "," flag "=" value }
//	port       = GUID | ALL | ALL_CAS | ALL_SWITCHES | ALL_ROUTERS | SELF | NONE
//
// '#' starts a comment; a line is at most 4094 bytes (OpenSM reads
// with fgets into a 4096 buffer and would split a longer line in the
// middle of a token); an "mgid=" item uses up the rest of its line.
//
// Why our own parser when OpenSM has one: OpenSM's reaction to an
// error is to drop the whole file and fall back to "Default=0x7fff :
// ALL=full" (every tenant in one partition), and it silently ignores
// or reinterprets much else. We must know before OpenSM reads a file.

// maxLine is the longest line fgets(line, 4095, f) returns whole,
// counting its newline.
const maxLine = 4094

// Parse reads a partitions.conf. It never fails outright: everything
// it finds is in File.Problems (see File.Err), and what it could make
// sense of is in File.Defs.
func Parse(data []byte) *File {
	p := &parser{f: &File{}}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		p.line = i + 1
		if len(line)+1 > maxLine {
			p.errf("line is %d bytes; OpenSM reads at most %d and would split it mid-token", len(line)+1, maxLine)
		}
		if strings.IndexByte(line, 0) >= 0 {
			p.errf("NUL byte: OpenSM ignores the rest of the line")
		}
		comment := ""
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line, comment = line[:c], line[c+1:]
		}
		p.parseLine(line, comment)
	}
	p.finishFile()
	return p.f
}

type parser struct {
	f    *File
	line int
	cur  *Definition // open definition (header seen, no ';' yet)
	seen map[uint16]*Definition
	port map[uint16]map[sm.GUID]int // P_Key -> port -> line, to flag repeats
}

func (p *parser) errf(format string, a ...any) {
	p.f.Problems = append(p.f.Problems, Problem{p.line, Error, fmt.Sprintf(format, a...)})
}

func (p *parser) warnf(format string, a ...any) {
	p.f.Problems = append(p.f.Problems, Problem{p.line, Warning, fmt.Sprintf(format, a...)})
}

// parseLine handles one line without its comment. OpenSM cuts the
// line at '#' and at each ';' by writing NULs, but some of its code
// reads past them (see parseMGroup), so the text after a segment's
// end is passed along as tail.
func (p *parser) parseLine(s, comment string) {
	for {
		s = strings.TrimLeft(s, " \t\n")
		if s == "" {
			return
		}
		seg, rest, semi := strings.Cut(s, ";")
		tail := comment
		if semi {
			tail = rest
		}
		p.parseSegment(seg, semi, tail)
		if !semi {
			return
		}
		if p.cur != nil {
			p.cur.Terminated = true
		}
		p.cur = nil
		s = rest
	}
}

// parseSegment handles text up to a ';' or the end of the line.
func (p *parser) parseSegment(seg string, semi bool, tail string) {
	if p.cur == nil {
		header, body, ok := strings.Cut(seg, ":")
		if !ok {
			p.errf("no partition definition found (header without ':')")
			p.cur = &Definition{Line: p.line, placeholder: true} // swallow the rest quietly
			return
		}
		p.cur = p.parseHeader(header)
		seg = body
	}
	items := strings.Split(seg, ",")
	for i, it := range items {
		name, val, hasVal := nameToken(it)
		if name == "mgid" {
			p.parseMGroup(val, hasVal, items[i+1:], semi, tail)
			return
		}
		p.parsePort(name, val, hasVal)
	}
}
