package health

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PerfBlock is one section of perfquery output:
//
//	# Port counters: Lid 18 port 1 (CapMask: 0x1200)
//	PortSelect:......................1
//	SymbolErrorCounter:..............0
//	...
//
// perfquery prints one per port it was asked about; `perfquery -x`
// titles it "Port extended counters", `perfquery -E` "PortRcvErrorDetails
// counters".
type PerfBlock struct {
	// Title is the text before the colon: "Port counters", "Port
	// extended counters", ...
	Title string
	LID   uint16
	Port  int
	// CapMask is the PMA's capability mask when the title line has one.
	CapMask uint32
	// Fields holds every "Name:....value" line; Order keeps their order.
	Fields map[string]uint64
	Order  []string
}

// Extended reports whether the block holds 64-bit extended counters.
func (b PerfBlock) Extended() bool { return strings.Contains(strings.ToLower(b.Title), "extended") }

// ErrNoErrorCounters means a block lacks the error counters. `perfquery
// -x` prints them only when the PMA has IsAdditionalPortCountersExtended
// (CapMask bit 14, real ConnectX HCAs and Quantum switches); ibsim and
// older HCAs need plain `perfquery`.
var ErrNoErrorCounters = errors.New("perfquery: no error counters in this output")

// Counters extracts the health counters. A block without them (see
// ErrNoErrorCounters) is an error rather than zeros: silence must never
// read as "no errors".
func (b PerfBlock) Counters() (Counters, error) {
	var v [nCounters]uint64
	for i, name := range counterNames {
		x, ok := b.Fields[name]
		if !ok {
			return Counters{}, fmt.Errorf("%w (lid %d port %d lacks %s)", ErrNoErrorCounters, b.LID, b.Port, name)
		}
		v[i] = x
	}
	return Counters{SymbolErrors: v[cSymbol], LinkDowned: v[cLinkDowned], RcvErrors: v[cRcv],
		XmitDiscards: v[cXmitDiscards], Extended: b.Extended()}, nil
}

// ErrEmptyOutput is perfquery printing nothing: on real fabrics this
// happens when the query timed out and only stderr said so.
var ErrEmptyOutput = errors.New("perfquery: empty output")

// maxPerfLine bounds a line; real ones are under 100 bytes.
const maxPerfLine = 4096

// ParsePerfQuery reads the output of perfquery (plain, -x, -E, several
// ports concatenated). It is strict: a line that is neither a title nor
// "Name:....value" with a decimal or 0x value is an error naming the
// line, because a misread counter would hide errors or drain nodes.
func ParsePerfQuery(out []byte) ([]PerfBlock, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, ErrEmptyOutput
	}
	var blocks []PerfBlock
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 256), maxPerfLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			b, err := parseTitle(line)
			if err != nil {
				return nil, fmt.Errorf("perfquery: line %d: %w", n, err)
			}
			blocks = append(blocks, b)
			continue
		}
		if len(blocks) == 0 {
			return nil, fmt.Errorf("perfquery: line %d: %q before any \"# ... counters\" title", n, clip(line))
		}
		name, val, err := parseField(line)
		if err != nil {
			return nil, fmt.Errorf("perfquery: line %d: %w", n, err)
		}
		b := &blocks[len(blocks)-1]
		if _, dup := b.Fields[name]; dup {
			return nil, fmt.Errorf("perfquery: line %d: %s repeated in one block", n, name)
		}
		b.Fields[name] = val
		b.Order = append(b.Order, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("perfquery: line %d: %w", n+1, err)
	}
	return blocks, nil
}

// parseTitle reads "# Port counters: Lid 18 port 1 (CapMask: 0x1200)".
func parseTitle(line string) (PerfBlock, error) {
	b := PerfBlock{Fields: map[string]uint64{}}
	title, rest, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":")
	if !ok || !strings.HasSuffix(strings.ToLower(title), "counters") {
		return b, fmt.Errorf("unexpected comment %q", clip(line))
	}
	b.Title = title
	f := strings.Fields(rest)
	if len(f) < 4 || f[0] != "Lid" || f[2] != "port" {
		return b, fmt.Errorf("title %q lacks \"Lid N port P\"", clip(line))
	}
	lid, err := strconv.ParseUint(f[1], 10, 16)
	if err != nil {
		return b, fmt.Errorf("bad LID %q", clip(f[1]))
	}
	port, err := strconv.ParseUint(f[3], 10, 8)
	if err != nil {
		return b, fmt.Errorf("bad port %q", clip(f[3]))
	}
	b.LID, b.Port = uint16(lid), int(port)
	if len(f) >= 6 && f[4] == "(CapMask:" {
		c, err := parseNumber(strings.TrimSuffix(f[5], ")"))
		if err == nil && c > 1<<32-1 {
			err = strconv.ErrRange
		}
		if err != nil {
			return b, fmt.Errorf("bad CapMask %q", clip(f[5]))
		}
		b.CapMask = uint32(c)
	}
	return b, nil
}

// parseField reads "SymbolErrorCounter:..............0": the dots pad
// the name to a column and are not part of either side.
func parseField(line string) (string, uint64, error) {
	name, val, ok := strings.Cut(line, ":")
	if !ok || name == "" || strings.ContainsAny(name, " \t.") {
		return "", 0, fmt.Errorf("expected Name:....value, got %q", clip(line))
	}
	val = strings.TrimSpace(strings.TrimLeft(val, "."))
	v, err := parseNumber(val)
	if err != nil {
		return "", 0, fmt.Errorf("%s: value %q is not a counter", name, clip(val))
	}
	return name, v, nil
}

// parseNumber accepts what perfquery prints: decimal counters and 0x
// hex selects and masks (not strconv's base 0, which would read "010"
// as octal and accept "1_000").
func parseNumber(s string) (uint64, error) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		return strconv.ParseUint(h, 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

// clip shortens quoted input in error messages.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
