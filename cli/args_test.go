package cli

import (
	"slices"
	"testing"
)

func TestInterspersed(t *testing.T) {
	cases := [][2][]string{
		{{"ibex", "drain", "node001", "--reason", "fan"}, {"ibex", "drain", "--reason", "fan", "node001"}},
		{{"ibex", "--addr", "x:1", "show", "3", "--json"}, {"ibex", "--addr", "x:1", "show", "--json", "3"}},
		{{"ibex", "submit", "-N", "4", "--", "cmd", "--reason", "x"}, {"ibex", "submit", "-N", "4", "--", "cmd", "--reason", "x"}},
		{{"ibex", "submit", "job.sh", "-N", "2"}, {"ibex", "submit", "-N", "2", "job.sh"}},
		{{"ibex", "tenant", "create", "bob", "--admin"}, {"ibex", "tenant", "create", "--admin", "bob"}},
		{{"ibex", "nosuch", "x", "--y"}, {"ibex", "nosuch", "x", "--y"}},
	}
	app := App()
	for _, c := range cases {
		if got := interspersed(app, c[0]); !slices.Equal(got, c[1]) {
			t.Errorf("interspersed(%q) = %q, want %q", c[0], got, c[1])
		}
	}
}
