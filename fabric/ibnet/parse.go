package ibnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one dump line. Real lines are under 200 bytes; the bound
// only keeps a binary file from being buffered whole.
const maxLine = 1 << 20

// ParseError locates a problem in the dump. Line is 1-based; 0 means the
// problem is about the dump as a whole (empty, or a node never declared).
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("ibnet: line %d: %s", e.Line, e.Msg)
	}
	return "ibnet: " + e.Msg
}

func errorf(line int, format string, args ...any) error {
	return &ParseError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Options tune how a dump is turned into hosts and switch names.
type Options struct {
	// Names overrides the names derived from node descriptions, see
	// ParseNameMap. It is needed when the HCAs still carry their firmware
	// description ("MT25408 ConnectX Mellanox Technologies"), which has no
	// host name in it.
	Names NameMap
}

// Parse reads an ibnetdiscover dump (default output, `-p` ports list, or an
// ibsim net file) and derives hosts and switch levels from it.
func Parse(r io.Reader) (*Fabric, error) { return ParseOptions(r, Options{}) }

// ParseOptions is Parse with a name map.
func ParseOptions(r io.Reader, opt Options) (*Fabric, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	b := newBuilder()
	var handle func(line int, s string) error
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimSpace(sc.Text())
		switch {
		case s == "":
			if handle != nil {
				if err := handle(n, ""); err != nil {
					return nil, err
				}
			}
			continue
		case s[0] == '#':
			continue
		case isDiagnostic(s):
			// ibnetdiscover's stderr often ends up in the saved file
			// (3.topo in the test data starts with a umad timeout).
			b.warnf(n, "skipped diagnostic line %q", clip(s))
			continue
		}
		if handle == nil {
			if isPortsLine(s) {
				handle = (&portsParser{b: b}).line
			} else {
				handle = (&recordParser{b: b}).line
			}
		}
		if err := handle(n, s); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, errorf(n+1, "line longer than %d bytes: not an ibnetdiscover dump", maxLine)
		}
		return nil, fmt.Errorf("ibnet: reading dump: %w", err)
	}
	if n == 0 {
		return nil, errorf(0, "empty input")
	}
	if len(b.f.Nodes) == 0 {
		return nil, errorf(0, "no nodes in %d lines: not an ibnetdiscover dump", n)
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	analyze(b.f, opt.Names)
	return b.f, nil
}

// isDiagnostic recognises libibmad/libibumad/ibnetdiscover messages, e.g.
// "src/query_smp.c:195; umad (DR path ...) bad status 110; Connection timed
// out" or "ibwarn: [1234] ...".
func isDiagnostic(s string) bool {
	for _, p := range []string{"ibwarn:", "iberror:", "ibnetdiscover:", "ibpanic:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	i := strings.Index(s, ".c:")
	if i <= 0 || strings.ContainsAny(s[:i], " \t\"[") {
		return false
	}
	j := i + 3
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	return j > i+3 && j < len(s) && s[j] == ';'
}

// clip shortens a line quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// nextField splits off the first whitespace-separated token.
func nextField(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}
