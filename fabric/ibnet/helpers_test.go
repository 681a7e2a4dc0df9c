package ibnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dataDir holds the real dumps copied from shared data (see its README).
const dataDir = "../../testdata/ib-topology"

func mustParseFile(t testing.TB, rel string, opt Options) *Fabric {
	t.Helper()
	fh, err := os.Open(filepath.Join(dataDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := ParseOptions(fh, opt)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	checkInvariants(t, f)
	return f
}

func mustParse(t testing.TB, dump string) *Fabric {
	t.Helper()
	f, err := Parse(strings.NewReader(dump))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, dump)
	}
	checkInvariants(t, f)
	return f
}

// parseErr parses dump and returns the ParseError it must fail with.
func parseErr(t testing.TB, dump string) *ParseError {
	t.Helper()
	_, err := Parse(strings.NewReader(dump))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("want a *ParseError, got %v for\n%s", err, dump)
	}
	return pe
}

// expandHostlist is a test-only Slurm hostlist expander, used to check
// compressHostlist and to read PSMN's reference topology.conf.
func expandHostlist(expr string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i <= len(expr); i++ {
		if i < len(expr) {
			switch expr[i] {
			case '[':
				depth++
				continue
			case ']':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		names, err := expandOne(expr[start:i])
		if err != nil {
			return nil, err
		}
		out = append(out, names...)
		start = i + 1
	}
	return out, nil
}

func expandOne(item string) ([]string, error) {
	open := strings.IndexByte(item, '[')
	if open < 0 {
		if item == "" {
			return nil, errors.New("empty name")
		}
		return []string{item}, nil
	}
	closing := strings.IndexByte(item, ']')
	if closing < open {
		return nil, fmt.Errorf("unbalanced brackets in %q", item)
	}
	prefix, suffix := item[:open], item[closing+1:]
	var out []string
	for _, r := range strings.Split(item[open+1:closing], ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || b < a {
			return nil, fmt.Errorf("bad range %q", r)
		}
		for v := a; v <= b; v++ {
			out = append(out, fmt.Sprintf("%s%0*d%s", prefix, len(lo), v, suffix))
		}
	}
	return out, nil
}

func names(ns []*Node) []string { return nodeNames(ns) }

func hostNames(hs []*Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
