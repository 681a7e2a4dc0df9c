package model

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, ok := range []string{"", "nightly build", "résumé ✓", "a-b_c.d"} {
		if err := CheckText("name", ok, 64); err != nil {
			t.Errorf("CheckText(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"a\nb", "\x1b[2J", "tab\there", "del\x7f", "c1\u0085", "\xff", strings.Repeat("x", 65), "zw\u200bsp"} {
		if err := CheckText("name", bad, 64); err == nil {
			t.Errorf("CheckText(%q) accepted", bad)
		}
	}
}

func TestCheckArgv(t *testing.T) {
	if err := CheckArgv([]string{"echo", "hello world", ""}); err != nil {
		t.Fatal(err)
	}
	if err := CheckArgv([]string{"echo", "a\x00b"}); err == nil || !strings.Contains(err.Error(), "argument 1") {
		t.Fatalf("NUL accepted or unnamed: %v", err)
	}
	if err := CheckArgv([]string{strings.Repeat("x", MaxArgvBytes)}); err == nil {
		t.Fatal("oversized command line accepted")
	}
}

func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"ok", "\x1b]0;x\a", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckText("f", s, 256) != nil {
			return
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("%q accepted with control character %U", s, r)
			}
		}
	})
}
