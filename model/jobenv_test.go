package model

import (
	"strings"
	"testing"
)

func TestExpandOutputPattern(t *testing.T) {
	v := OutputVars{JobID: 42, Name: "sim", Node: "node003", NodeIndex: 2, User: "alice"}
	for p, want := range map[string]string{
		"out.%j":       "out.42",
		"%x-%j.%N.log": "sim-42.node003.log",
		"%u/%t.%n":     "alice/2.2",
		"%5j_%3t":      "00042_002",
		"%A_%a":        "42_",
		"100%%":        "100%",
		"plain":        "plain",
		"%J":           "42",
	} {
		got, err := ExpandOutputPattern(p, v)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", p, got, err, want)
		}
	}
	v.ArrayJobID, v.ArrayTaskID = 40, "7"
	if got, _ := ExpandOutputPattern("%A_%a", v); got != "40_7" {
		t.Errorf("array: %q, want 40_7", got)
	}
	for _, bad := range []string{"out.%", "%q", "%123j", "a\nb", "\x1b[2J", strings.Repeat("x", MaxPatternBytes+1)} {
		if err := CheckOutputPattern("-o", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !PerNodePattern("o.%N") || !PerNodePattern("o.%3t") || PerNodePattern("o.%j") || PerNodePattern("o.%%N") {
		t.Error("PerNodePattern")
	}
}

func TestCheckEnv(t *testing.T) {
	if err := CheckEnv([]string{"A=1", "_B=", "PATH=/x:/y", "V=a=b"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"A"}, {"1A=x"}, {"A-B=1"}, {"IBEX_JOB_ID=1"}, {"A=1", "A=2"}, {"A=\x00"},
		{"A=" + strings.Repeat("x", MaxEnvBytes)}, make([]string, MaxEnvVars+1)} {
		if err := CheckEnv(bad); err == nil {
			t.Errorf("%.40q accepted", bad)
		}
	}
	for _, bad := range []string{"rel/dir", "/a\nb", "/" + strings.Repeat("d", MaxPathBytes)} {
		if err := CheckWorkdir(bad); err == nil {
			t.Errorf("workdir %.40q accepted", bad)
		}
	}
}

// FuzzExpandOutputPattern: a pattern CheckOutputPattern accepts always
// expands, to at most a bounded size, and one it refuses never expands.
func FuzzExpandOutputPattern(f *testing.F) {
	f.Add("out.%j.%N")
	f.Add("%99x%%%")
	f.Add("%5a_%A")
	f.Fuzz(func(t *testing.T, p string) {
		v := OutputVars{JobID: 1<<64 - 1, Name: strings.Repeat("n", 128), Node: "node001", NodeIndex: 65535, User: "tenant", ArrayTaskID: "99999"}
		checked := CheckOutputPattern("-o", p)
		got, err := ExpandOutputPattern(p, v)
		if (checked == nil) != (err == nil) {
			t.Fatalf("%q: check says %v, expand says %v", p, checked, err)
		}
		if err == nil && len(got) > len(p)*128+128 {
			t.Fatalf("%q expands to %d bytes", p, len(got))
		}
	})
}

func FuzzCheckEnv(f *testing.F) {
	f.Add("A=1\nB=2")
	f.Fuzz(func(t *testing.T, s string) {
		env := strings.Split(s, "\n")
		if CheckEnv(env) != nil {
			return
		}
		for _, kv := range env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || !ValidEnvName(k) || strings.ContainsRune(kv, 0) {
				t.Fatalf("accepted %q", kv)
			}
		}
	})
}
