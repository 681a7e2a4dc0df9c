package opensm

import "strings"

// cNumber mirrors C's strtoul(s, &end, 0), which is how OpenSM reads
// P_Keys, GUIDs and flag values: "0x" hex, leading "0" octal, else
// decimal, and the whole string must be used. It reports what OpenSM
// would silently accept but we refuse: signs, overflow (strtoul
// saturates, then OpenSM truncates to 16 bits) and octal (0100 is 64).
type cNumber struct {
	val      uint64
	ok       bool // digits present and nothing left over
	overflow bool
	signed   bool
	octal    bool
}

func parseCNumber(s string) cNumber {
	var n cNumber
	s = strings.TrimLeft(s, " \t\n\v\f\r") // isspace, as strtoul skips
	if s != "" && (s[0] == '+' || s[0] == '-') {
		n.signed = true
		s = s[1:]
	}
	base := uint64(10)
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && hexDigit(s[2]) >= 0:
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
		n.octal = true
	}
	if s == "" && !n.octal {
		return n
	}
	for i := 0; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			return n // trailing garbage: *end != 0
		}
		if n.val > (^uint64(0)-uint64(d))/base {
			n.overflow = true
		}
		n.val = n.val*base + uint64(d)
	}
	n.ok = true
	return n
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// prefixOf is OpenSM's keyword test strncmp(word, kw, strlen(word)) == 0:
// any prefix of the keyword matches, including the empty word.
func prefixOf(word, kw string) bool { return strings.HasPrefix(kw, word) }

// trimSp trims the characters OpenSM's tokenizer treats as blanks.
// Only ' ', '\t' and '\n': a '\r' from a CRLF file stays in the token
// and makes the number after it invalid, as it does in OpenSM.
func trimSp(s string) string { return strings.Trim(s, " \t\n") }

// nameToken splits "name = value" like OpenSM's parse_name_token.
func nameToken(s string) (name, val string, hasVal bool) {
	name, val, hasVal = strings.Cut(s, "=")
	return trimSp(name), trimSp(val), hasVal
}
