package hca

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// parseDecimal parses 1 to maxDigits ASCII digits. strconv.ParseUint alone
// would also accept "+1" or "1_000" in some bases; sysfs never prints those,
// so seeing them means the file is not what we think it is.
func parseDecimal(s string, maxDigits int) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("number %q has more than %d digits", s, maxDigits)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, fmt.Errorf("number %q overflows 64 bits", s)
		}
		v = v*10 + d
	}
	return v, nil
}

// parseHex parses 1 to maxDigits ASCII hex digits, without any prefix.
func parseHex(s string, maxDigits int) (uint64, error) {
	if s == "" || len(s) > maxDigits {
		return 0, fmt.Errorf("%q is not 1-%d hex digits", s, maxDigits)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d, ok := hexDigit(s[i])
		if !ok {
			return 0, fmt.Errorf("%q is not a hex number", s)
		}
		v = v<<4 | uint64(d)
	}
	return v, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkPrintable rejects text that is not valid UTF-8 or has control
// characters: sysfs values end up in logs, JSON and policy keys, and a NUL or
// escape sequence there means we read something that is not an attribute.
func checkPrintable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("has control character %U", r)
		}
	}
	return nil
}
