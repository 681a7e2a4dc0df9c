package ibnet

import (
	"fmt"
	"slices"
	"strings"
)

// maxCheckExamples bounds how many offenders one warning names.
const maxCheckExamples = 5

// Check looks for what a dump can hold but a healthy, complete fat tree
// does not, and says it in the words an admin acts on:
//
//   - a truncated dump: nodes that cables point to but that have no record
//     of their own (ibnetdiscover cut short, or a file copied in part);
//   - self-cables: a switch with two of its own ports cabled together;
//   - cables between two leaf switches (a miscabled leaf, or a level the
//     dump's hosts hide).
//
// Parse already rejects what cannot be modelled (a port cabled to itself,
// a port with two peers); these are the oddities it lets through.
func (f *Fabric) Check() []string {
	var out []string
	var undeclared []string
	for _, n := range f.Nodes {
		if !n.declared {
			undeclared = append(undeclared, n.ID)
		}
	}
	if len(undeclared) > 0 {
		out = append(out, fmt.Sprintf("the dump looks truncated: %d node(s) are named by cables but have no record of their own (%s), so what they connect is unknown — take a complete ibnetdiscover dump",
			len(undeclared), examples(undeclared)))
	}
	var self, leafLeaf []string
	for _, l := range f.Links {
		a, b := l.A.Node, l.B.Node
		switch {
		case a == b:
			self = append(self, fmt.Sprintf("%s ports %d and %d", a.Name, l.A.Num, l.B.Num))
		case a.Kind == KindSwitch && b.Kind == KindSwitch && a.Level == 1 && b.Level == 1:
			leafLeaf = append(leafLeaf, fmt.Sprintf("%s[%d] to %s[%d]", a.Name, l.A.Num, b.Name, l.B.Num))
		}
	}
	if len(self) > 0 {
		out = append(out, fmt.Sprintf("%d self-cable(s), a switch cabled to itself: %s", len(self), examples(self)))
	}
	if len(leafLeaf) > 0 {
		out = append(out, fmt.Sprintf("%d cable(s) between leaf switches: %s (jobs on these leaves may route through them)", len(leafLeaf), examples(leafLeaf)))
	}
	return out
}

func examples(xs []string) string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs) <= maxCheckExamples {
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(xs[:maxCheckExamples], ", "), len(xs)-maxCheckExamples)
}
