package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

func TestParseExport(t *testing.T) {
	shell := []string{"HOME=/home/a", "PATH=/usr/bin", "IBEX_TOKEN=secret", "IBEX_ADDR=x:1", "SLURM_JOB_ID=9",
		"BASH_FUNC_f%%=() { :; }", "OMP_NUM_THREADS=8", "EMPTY="}
	for _, c := range []struct {
		spec string
		want []string
	}{
		{"ALL", []string{"HOME=/home/a", "PATH=/usr/bin", "OMP_NUM_THREADS=8", "EMPTY="}},
		{"NONE", nil},
		{"OMP_NUM_THREADS", []string{"OMP_NUM_THREADS=8"}},
		{"OMP_NUM_THREADS=2,FOO=a=b", []string{"OMP_NUM_THREADS=2", "FOO=a=b"}},
		{"ALL,OMP_NUM_THREADS=1", []string{"HOME=/home/a", "PATH=/usr/bin", "OMP_NUM_THREADS=1", "EMPTY="}},
	} {
		got, err := ParseExport(c.spec, shell)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseExport(%q) = %q, %v; want %q", c.spec, got, err, c.want)
		}
	}
	for spec, want := range map[string]string{
		"":             "empty",
		"NONE,FOO=1":   "no variables",
		"UNSET_VAR":    "not set in this shell",
		"IBEX_TOKEN=x": "set by ibex",
		"1BAD=x":       "not a variable name",
		"FOO=1,,BAR=2": "empty item",
		"FOO=1,ALL":    "comes first",
		"FOO=a\x00b":   "NUL",
		"BIG=" + strings.Repeat("x", model.MaxEnvBytes): "limit",
	} {
		if _, err := ParseExport(spec, shell); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseExport(%.20q) = %v, want an error saying %q", spec, err, want)
		}
	}
}

// FuzzParseExport: whatever the spec, the result is either an error or an
// environment ibexd accepts.
func FuzzParseExport(f *testing.F) {
	f.Add("ALL,FOO=1")
	f.Add("NONE")
	f.Add("A,B=,C=x=y")
	f.Fuzz(func(t *testing.T, spec string) {
		env, err := ParseExport(spec, []string{"A=1", "B=2", "C=3", "IBEX_TOKEN=t"})
		if err != nil {
			return
		}
		if err := model.CheckEnv(env); err != nil {
			t.Fatalf("ParseExport(%q) = %q, which ibexd refuses: %v", spec, env, err)
		}
		for _, kv := range env {
			if strings.HasPrefix(kv, "IBEX_") {
				t.Fatalf("ParseExport(%q) exports %q", spec, kv)
			}
		}
	})
}

// TestEnvDirectives: a script's #SBATCH -o/-e/--export/-D lines set the
// same flags as the command line.
func TestEnvDirectives(t *testing.T) {
	ds, unknown, err := ParseDirectives("#!/bin/sh\n#SBATCH -o out.%j -e err.%N\n#SBATCH --export=A=1 -D /scratch/run\necho\n")
	if err != nil || len(unknown) != 0 {
		t.Fatalf("%v, unknown %q", err, unknown)
	}
	got := map[string]string{}
	for _, d := range ds {
		got[d.Flag] = d.Value
	}
	want := map[string]string{"output": "out.%j", "error": "err.%N", "export": "A=1", "chdir": "/scratch/run"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
