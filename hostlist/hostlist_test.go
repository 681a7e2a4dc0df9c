package hostlist

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"node001", []string{"node001"}},
		{"node[001-003]", []string{"node001", "node002", "node003"}},
		{"node[1-2,5],gpu07", []string{"node1", "node2", "node5", "gpu07"}},
		{"r[08-10]b", []string{"r08b", "r09b", "r10b"}},
	}
	for _, c := range cases {
		got, err := Expand(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Expand(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	for _, in := range []string{"", "node[", "node]", "n[3-1]", "n[a-b]", "n[1-2]x[3]", ",", "n[0-99999999]", "a b"} {
		if got, err := Expand(in); err == nil {
			t.Errorf("Expand(%q) = %v, want error", in, got)
		}
	}
}

func TestCompress(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{[]string{"node001", "node002", "node003", "node004"}, "node[001-004]"},
		{[]string{"node004", "node001", "node002", "node007"}, "node[001-002,004,007]"},
		{[]string{"node1", "node2", "login", "gpu01"}, "gpu01,login,node[1-2]"},
		{[]string{"n9", "n10"}, "n[9-10]"},
		{[]string{"x"}, "x"},
		{[]string{"node0998", "node0999", "node1000", "node1001"}, "node[0998-1001]"},
		{[]string{"n01", "n10"}, "n[01,10]"},
		{[]string{"node098", "node099", "node100"}, "node[098-100]"}, // 100 joins the padded group
		{[]string{"node1", "node01"}, "node1,node01"},                // different names, not one range
		{[]string{"a01", "b01", "a02"}, "a[01-02],b01"},              // one bracket per prefix
		{[]string{"gpu-a01", "gpu-a02", "gpu-b01"}, "gpu-a[01-02],gpu-b01"},
		{[]string{"n3", "n1", "n2", "n2", "x", "x"}, "n[1-3],x"},                                        // duplicates dropped
		{[]string{"H-0008f10403961354", "H-0008f10403960558"}, "H-0008f10403960558,H-0008f10403961354"}, // GUID tails are not ranged
		{[]string{"1", "2"}, "1,2"},                                                                     // no prefix: Expand would refuse "[1-2]"
		{[]string{"x0"}, "x0"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := Compress(c.in); got != c.want {
			t.Errorf("Compress(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCompressOrder pins the order every caller shares (IBEX_NODELIST, the
// API's and dashboard's node lists, the CLI's topology table, the
// topology.conf that fabric/ibnet writes): Slurm's, by prefix in natural
// order, then by number, whatever order the names came in.
func TestCompressOrder(t *testing.T) {
	cases := []struct {
		in   []string
		want string
	}{
		{[]string{"node10", "node2", "node3", "node1"}, "node[1-3,10]"},
		{[]string{"node10", "login", "node2", "gpu01", "node3"}, "gpu01,login,node[2-3,10]"},
		{[]string{"rack10-n1", "rack2-n1", "rack2-n2"}, "rack2-n[1-2],rack10-n1"},                // prefixes in natural order
		{[]string{"node01", "node5", "node", "node02", "nodex"}, "node,node5,node[01-02],nodex"}, // plain, unpadded, padded
		{[]string{"sl390lin22", "H-78e7d1030024535c", "sl390lin28"}, "H-78e7d1030024535c,sl390lin[22,28]"},
	}
	for _, c := range cases {
		if got := Compress(c.in); got != c.want {
			t.Errorf("Compress(%v) = %q, want %q", c.in, got, c.want)
		}
		r := slices.Clone(c.in)
		slices.Reverse(r)
		if got := Compress(r); got != c.want {
			t.Errorf("Compress(%v) = %q, want %q", r, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	in := []string{"node10", "node2", "node1", "leaf01", "node01", "leaf1", "a", "node002x", "node2x"}
	slices.SortFunc(in, Compare)
	// Equal numbers: the shorter spelling first.
	want := []string{"a", "leaf1", "leaf01", "node1", "node01", "node2", "node2x", "node002x", "node10"}
	if !slices.Equal(in, want) {
		t.Errorf("got %v", in)
	}
}

// FuzzRoundTrip checks that any expression that parses compresses back to an
// expression naming the same set of hosts.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"node[001-004]", "a1,a2,b[7-9]", "gpu[00-03,10]x", "n[1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := Expand(expr)
		if err != nil {
			return
		}
		back, err := Expand(Compress(names))
		if err != nil {
			t.Fatalf("Compress(%v) = %q does not parse: %v", names, Compress(names), err)
		}
		a := uniq(names)
		b := uniq(back)
		if !slices.Equal(a, b) {
			t.Fatalf("round trip of %q: %v != %v", expr, a, b)
		}
	})
}

func uniq(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return slices.Compact(c)
}

// FuzzCompress checks that any list of valid names compresses to an
// expression that expands to the same set, whatever the input order.
func FuzzCompress(f *testing.F) {
	f.Add("node001,node002,node100,login,gpu-a7")
	f.Add("n9,n10,n010,n0010")
	f.Fuzz(func(t *testing.T, list string) {
		var in []string
		for _, s := range strings.Split(list, ",") {
			if checkName(s) == nil {
				in = append(in, s)
			}
		}
		if len(in) == 0 {
			return
		}
		expr := Compress(in)
		back, err := Expand(expr)
		if err != nil {
			t.Fatalf("Compress(%q) = %q does not parse: %v", in, expr, err)
		}
		if a, b := uniq(in), uniq(back); !slices.Equal(a, b) {
			t.Fatalf("Expand(Compress(%q)) = %q", a, b)
		}
		slices.Reverse(in)
		if again := Compress(in); again != expr {
			t.Fatalf("Compress depends on input order: %q, reversed %q", expr, again)
		}
	})
}
