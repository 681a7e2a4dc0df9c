package ibnet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// cursor walks a port line left to right. Port lines are the bulk of a
// dump, so they are scanned by hand rather than with regular expressions.
type cursor struct {
	s string
	i int
}

func (c *cursor) rest() string { return c.s[c.i:] }

func (c *cursor) skipSpace() {
	for c.i < len(c.s) && (c.s[c.i] == ' ' || c.s[c.i] == '\t') {
		c.i++
	}
}

// bracketNum reads "[12]".
func (c *cursor) bracketNum() (int, bool) {
	if c.i >= len(c.s) || c.s[c.i] != '[' {
		return 0, false
	}
	j := strings.IndexByte(c.s[c.i:], ']')
	if j < 0 {
		return 0, false
	}
	v, err := strconv.Atoi(c.s[c.i+1 : c.i+j])
	if err != nil || v < 0 {
		return 0, false
	}
	c.i += j + 1
	return v, true
}

// skipExt skips the "[ext 3]" external port number that `ibnetdiscover -g`
// prints for chassis line cards.
func (c *cursor) skipExt() {
	if strings.HasPrefix(c.s[c.i:], "[ext ") {
		if j := strings.IndexByte(c.s[c.i:], ']'); j > 0 {
			c.i += j + 1
		}
	}
}

// parenHex reads an optional "(8f10403960559)" port GUID, returning 0 if
// there is none; ok is false only if a parenthesis is there but does not
// hold a GUID. (A GUID of 0 is invalid in InfiniBand, so 0 can mean none.)
func (c *cursor) parenHex() (v uint64, ok bool) {
	if c.i >= len(c.s) || c.s[c.i] != '(' {
		return 0, true
	}
	j := strings.IndexByte(c.s[c.i:], ')')
	if j < 0 {
		return 0, false
	}
	v, err := parseGUID(c.s[c.i+1 : c.i+j])
	if err != nil {
		return 0, false
	}
	c.i += j + 1
	return v, true
}

// quoted reads a "..." string (no escapes: ibnetdiscover prints none).
func (c *cursor) quoted() (string, bool) {
	if c.i >= len(c.s) || c.s[c.i] != '"' {
		return "", false
	}
	j := strings.IndexByte(c.s[c.i+1:], '"')
	if j < 0 {
		return "", false
	}
	v := c.s[c.i+1 : c.i+1+j]
	c.i += j + 2
	return v, true
}

// cutQuoted reads a leading quoted string from s.
func cutQuoted(s string) (v, rest string, err error) {
	c := &cursor{s: strings.TrimLeft(s, " \t")}
	v, ok := c.quoted()
	if !ok {
		return "", s, errors.New("missing quoted string")
	}
	return v, c.rest(), nil
}

// cutDesc reads the quoted node description at the start of a comment. It
// runs to the last quote of the line because descriptions are free text
// and may themselves contain quotes; the fields after it never do.
func cutDesc(s string) (desc, after string) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] != '"' {
		return "", s
	}
	j := strings.LastIndexByte(s, '"')
	if j == 0 {
		return s[1:], ""
	}
	return s[1:j], s[j+1:]
}

// portComment is what follows '#' on a port line.
type portComment struct {
	localLID  uint16 // CA side: "lid 3 lmc 0" before the description
	localLMC  uint8
	desc      string // remote node description
	remoteLID uint16
	rate      Rate
}

// parsePortComment reads `"desc" lid 19 4xFDR` (switch records) or `lid 3
// lmc 0 "desc" lid 268 4xFDR` (CA records). ibsim and fabric/ibsim write
// just `lid 0 4xEDR`. Extra `--full` fields (s= w= v=) are ignored.
func parsePortComment(s string) (portComment, error) {
	var cm portComment
	s = strings.TrimSpace(s)
	if after, ok := strings.CutPrefix(s, "lid "); ok {
		lidTok, r1 := nextField(after)
		if kw, r2 := nextField(r1); kw == "lmc" {
			lid, err := parseLID(lidTok)
			if err != nil {
				return cm, err
			}
			lmcTok, r3 := nextField(r2)
			v, err := strconv.Atoi(lmcTok)
			if err != nil || v < 0 || v > 7 {
				return cm, fmt.Errorf("bad lmc %q", clip(lmcTok))
			}
			cm.localLID, cm.localLMC, s = lid, uint8(v), r3
		}
	}
	cm.desc, s = cutDesc(s)
	lid, _, err := findLID(s)
	if err != nil {
		return cm, err
	}
	cm.remoteLID = lid
	for _, f := range strings.Fields(s) {
		if r := parseRate(f); r.Width != 0 {
			cm.rate = r
			break
		}
	}
	return cm, nil
}

// findLID finds "lid N" among the fields of s.
func findLID(s string) (uint16, bool, error) {
	fs := strings.Fields(s)
	for i := 0; i+1 < len(fs); i++ {
		if fs[i] == "lid" {
			lid, err := parseLID(fs[i+1])
			return lid, err == nil, err
		}
	}
	return 0, false, nil
}

func parseLID(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad lid %q", clip(s))
	}
	return uint16(v), nil
}

// parseGUID reads a 64-bit GUID with or without "0x".
func parseGUID(s string) (uint64, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" || len(s) > 16 {
		return 0, errors.New("bad GUID")
	}
	return strconv.ParseUint(s, 16, 64)
}

func parseHex32(s string) (uint32, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err
}
