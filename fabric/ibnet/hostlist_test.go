package ibnet

import (
	"slices"
	"strings"
	"testing"
)

func TestCompressHostlist(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"node001,node002,node003,node004,node007", "node[001-004,007]"},
		{"node7", "node7"},
		{"node1,node2,node10,node11", "node[1-2,10-11]"},
		{"node9,node10", "node[9-10]"},
		{"node098,node099,node100", "node[098-100]"},        // 100 joins the padded group
		{"node1,node01", "node1,node01"},                    // different names, not one range
		{"a01,b01,a02", "a[01-02],b01"},                     // one bracket per prefix
		{"login,node1,node2", "node[1-2],login"},            // names without numbers stay as they are
		{"gpu-a01,gpu-a02,gpu-b01", "gpu-a[01-02],gpu-b01"}, // suffix after the last letter
		{"n3,n1,n2,n2", "n[1-3]"},                           // sorted, duplicates dropped
		{"H-0008f10403960558,H-0008f10403961354", "H-0008f10403960558,H-0008f10403961354"},
		{"x0", "x0"},
		{"", ""},
	} {
		var in []string
		if c.in != "" {
			in = strings.Split(c.in, ",")
		}
		got := compressHostlist(in)
		if got != c.want {
			t.Errorf("compress(%s) = %q, want %q", c.in, got, c.want)
		}
		checkRoundTrip(t, in, got)
	}
}

func checkRoundTrip(t *testing.T, in []string, expr string) {
	t.Helper()
	if expr == "" {
		return
	}
	back, err := expandHostlist(expr)
	if err != nil {
		t.Fatalf("expand(%q): %v", expr, err)
	}
	want := slices.Compact(sorted(in))
	if !slices.Equal(sorted(back), want) {
		t.Errorf("expand(compress(%v)) = %v", want, sorted(back))
	}
}

func TestNaturalCompare(t *testing.T) {
	in := []string{"node10", "node2", "node1", "leaf01", "node01", "leaf1", "a", "node002x", "node2x"}
	slices.SortFunc(in, naturalCompare)
	// Equal numbers: the longer spelling ("002") first, then the rest.
	want := []string{"a", "leaf01", "leaf1", "node01", "node1", "node002x", "node2", "node2x", "node10"}
	if !slices.Equal(in, want) {
		t.Errorf("got %v", in)
	}
}

func FuzzHostlistRoundTrip(f *testing.F) {
	f.Add("node001,node002,node100,login,gpu-a7")
	f.Add("n9,n10,n010,n0010")
	f.Fuzz(func(t *testing.T, list string) {
		var in []string
		for _, s := range strings.Split(list, ",") {
			if validName(s) {
				in = append(in, s)
			}
		}
		if len(in) == 0 {
			return
		}
		checkRoundTrip(t, in, compressHostlist(in))
	})
}
