package hostlist

import (
	"slices"
	"sort"
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
		{[]string{"node1", "node2", "login", "gpu01"}, "node[1-2],login,gpu01"},
		{[]string{"n9", "n10"}, "n[9-10]"},
		{[]string{"x"}, "x"},
		{[]string{"node0998", "node0999", "node1000", "node1001"}, "node[0998-1001]"},
		{[]string{"n01", "n10"}, "n[01,10]"},
		{nil, ""},
	}
	for _, c := range cases {
		if got := Compress(c.in); got != c.want {
			t.Errorf("Compress(%v) = %q, want %q", c.in, got, c.want)
		}
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
