package ibnet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
