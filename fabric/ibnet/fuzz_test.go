package ibnet

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds mutated real dumps to the parser: it must never panic,
// must fail only with a *ParseError, and what it accepts must be a
// consistent graph that can be written out.
func FuzzParse(f *testing.F) {
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		base := d.Name()
		if base == "LICENSE" || base == "COPYING" || strings.HasSuffix(base, ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(small))
	f.Fuzz(func(t *testing.T, dump []byte) {
		fab, err := Parse(bytes.NewReader(dump))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		checkInvariants(t, fab)
		_ = WriteSlurmTopology(&bytes.Buffer{}, fab) // may refuse odd names, must not panic
	})
}

func checkInvariants(t testing.TB, f *Fabric) {
	t.Helper()
	for _, l := range f.Links {
		if l.A.Link != l || l.B.Link != l || l.A.Remote() != l.B || l.B.Remote() != l.A {
			t.Fatalf("link %v ends do not point back", l)
		}
		if l.A.Node.Port(l.A.Num) != l.A || l.B.Node.Port(l.B.Num) != l.B {
			t.Fatalf("link %v ports not registered on their nodes", l)
		}
	}
	for _, n := range f.Nodes {
		if n.Kind == KindUnknown || n.Name == "" {
			t.Fatalf("node %v unresolved", n)
		}
		if n.Kind == KindSwitch && n.Level > 1 {
			below := false
			for _, p := range n.Ports {
				if r := p.Remote(); r != nil && r.Node.Kind == KindSwitch && r.Node.Level == n.Level-1 {
					below = true
				}
			}
			if !below {
				t.Fatalf("switch %v at level %d has no neighbour one level down", n, n.Level)
			}
		}
	}
	for _, leaf := range f.Leaves() {
		if leaf.Level != 1 || len(f.LeafHosts(leaf)) == 0 {
			t.Fatalf("leaf %v level %d with %d hosts", leaf, leaf.Level, len(f.LeafHosts(leaf)))
		}
	}
}

// FuzzParseNameMap: any map file either fails with a line-numbered error
// or gives names usable in topology.conf and roles only for real names.
func FuzzParseNameMap(f *testing.F) {
	for _, s := range []string{"0x1 node1\n", "H-0002c90300048208 \"gpu7 mlx5_0\" compute # x\n", "0x2 login infra\n0x3 -\n", "0x4 a infra\n0x4 a compute\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, roles, err := parseMap(strings.NewReader(s))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) && !strings.Contains(err.Error(), "reading name map") {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		for _, v := range m {
			if v != Excluded && !validName(v) {
				t.Fatalf("name %q accepted", v)
			}
		}
		for name, c := range roles {
			if name == Excluded || !validName(name) || c != ClassCompute && c != ClassInfra {
				t.Fatalf("role %v for %q", c, name)
			}
		}
	})
}
