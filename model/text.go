package model

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Byte limits of free text a tenant or an operator hands the API. They
// keep one record small enough that a listing of thousands stays far
// below gRPC's message limit, and a reason short enough for a table cell.
const (
	MaxReasonBytes = 512
	MaxArgvBytes   = 64 << 10 // every word of a command line together
)

// CheckText accepts valid UTF-8 of at most max bytes without control
// characters (C0, DEL, C1) or other non-printing runes: text that ends up
// in other users' terminals and tables must not carry escape sequences or
// line breaks that forge rows. what names the field in the error.
func CheckText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s is %d bytes, the limit is %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Errorf("%s contains the non-printing character %U at byte %d", what, r, i)
	}
	return nil
}

// CheckArgv accepts a command line that can be executed: no NUL in any
// word (exec would refuse it only at launch, on the node) and at most
// MaxArgvBytes in all.
func CheckArgv(argv []string) error {
	total := 0
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argument %d contains a NUL byte, which no program can receive", i)
		}
		total += len(a) + 1
	}
	if total > MaxArgvBytes {
		return fmt.Errorf("the command line is %d bytes, the limit is %d", total, MaxArgvBytes)
	}
	return nil
}
