package agent

// mergeSeeds is enrollment's seeds followed by the configured ones, each
// once.
func mergeSeeds(lists ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}
