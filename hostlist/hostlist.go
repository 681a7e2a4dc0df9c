// Package hostlist parses and formats Slurm-style host list expressions such
// as "node[001-004,007],gpu01". Operators paste these between tools, so the
// format follows Slurm's: zero padding is kept, ranges are inclusive.
package hostlist

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxHosts bounds how many names one expression may expand to, so a typo
// like "n[0-999999999]" is an error rather than an out-of-memory.
const MaxHosts = 1 << 20

// Expand returns the host names of expr in order, without duplicates removed.
func Expand(expr string) ([]string, error) {
	var out []string
	for _, part := range splitTop(expr) {
		if part == "" {
			return nil, fmt.Errorf("hostlist %q: empty element", expr)
		}
		names, err := expandOne(part)
		if err != nil {
			return nil, fmt.Errorf("hostlist %q: %w", expr, err)
		}
		out = append(out, names...)
		if len(out) > MaxHosts {
			return nil, fmt.Errorf("hostlist %q: more than %d hosts", expr, MaxHosts)
		}
	}
	return out, nil
}

// splitTop splits on commas that are not inside brackets.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func expandOne(s string) ([]string, error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if strings.ContainsAny(s, "]") {
			return nil, errors.New("unbalanced ']'")
		}
		if err := checkName(s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	close := strings.IndexByte(s, ']')
	if close < open {
		return nil, errors.New("unbalanced brackets")
	}
	prefix, body, suffix := s[:open], s[open+1:close], s[close+1:]
	if strings.ContainsAny(suffix, "[]") {
		return nil, errors.New("only one bracket range per element is supported")
	}
	if err := checkName(prefix + suffix); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range strings.Split(body, ",") {
		lo, hi, found := strings.Cut(r, "-")
		if !found {
			hi = lo
		}
		if !isDigits(lo) || !isDigits(hi) {
			return nil, fmt.Errorf("bad range %q: want N or N-M", r)
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad range %q", r)
		}
		if b < a {
			return nil, fmt.Errorf("bad range %q: end before start", r)
		}
		if b-a >= MaxHosts {
			return nil, fmt.Errorf("range %q: more than %d hosts", r, MaxHosts)
		}
		width := 0
		if len(lo) > 1 && lo[0] == '0' {
			width = len(lo)
		}
		for i := a; i <= b; i++ {
			out = append(out, fmt.Sprintf("%s%0*d%s", prefix, width, i, suffix))
		}
	}
	return out, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > maxDigits {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func checkName(s string) error {
	if s == "" {
		return errors.New("empty host name")
	}
	for _, c := range s {
		if c == ',' || c == '[' || c == ']' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("bad character %q in host name", c)
		}
	}
	return nil
}

// Compress formats names as a compact expression that Expand turns back
// into the same set of names; duplicates are dropped.
//
// A name ending in up to 9 digits after a non-empty prefix joins the
// bracket of its prefix. Zero padding is kept: numbers with a leading zero
// only share a bracket with numbers of the same width, because "[098-100]"
// expands with width 3 but "[98-100]" without padding; an unpadded number
// as wide as a padded group ("node100" next to "node098") joins it, since
// it prints the same either way. Other names (no digits at the end, or a
// longer digit run such as the tail of a GUID-based "H-0008f10403960558")
// are listed as they are.
//
// The order is Slurm's (hostlist_sort): by prefix in Compare's natural
// order, a name listed as it is counting as its own prefix; for one prefix,
// the name without a number first, then the unpadded bracket, then padded
// ones by width; numbers ascending inside a bracket. So
// node10,login,node2,gpu01,node3 is "gpu01,login,node[2-3,10]" whatever
// order the names came in.
func Compress(names []string) string {
	type group struct {
		prefix string
		width  int // -1: a name listed as it is; 0: unpadded numbers
		nums   []int
	}
	split := func(n string) (prefix, digits string) {
		i := len(n)
		for i > 0 && isDigit(n[i-1]) {
			i--
		}
		return n[:i], n[i:]
	}
	numbered := func(prefix, digits string) bool {
		return digits != "" && len(digits) <= maxDigits && prefix != "" && !strings.ContainsAny(prefix, "[],")
	}
	// Zero-padded numbers fix a width per prefix.
	padded := map[string]map[int]bool{}
	for _, n := range names {
		prefix, digits := split(n)
		if numbered(prefix, digits) && len(digits) > 1 && digits[0] == '0' {
			if padded[prefix] == nil {
				padded[prefix] = map[int]bool{}
			}
			padded[prefix][len(digits)] = true
		}
	}
	type key struct {
		prefix string
		width  int
	}
	groups := map[key]*group{}
	for _, n := range names {
		prefix, digits := split(n)
		k := key{n, -1}
		if numbered(prefix, digits) {
			k = key{prefix, 0}
			if padded[prefix][len(digits)] {
				k.width = len(digits)
			}
		}
		g := groups[k]
		if g == nil {
			g = &group{prefix: k.prefix, width: k.width}
			groups[k] = g
		}
		if k.width >= 0 {
			v, _ := strconv.Atoi(digits)
			g.nums = append(g.nums, v)
		}
	}
	sorted := make([]*group, 0, len(groups))
	for _, g := range groups {
		sorted = append(sorted, g)
	}
	slices.SortFunc(sorted, func(a, b *group) int {
		return cmp.Or(Compare(a.prefix, b.prefix), cmp.Compare(a.width, b.width))
	})
	parts := make([]string, 0, len(sorted))
	for _, g := range sorted {
		if g.width < 0 {
			parts = append(parts, g.prefix)
			continue
		}
		slices.Sort(g.nums)
		nums := slices.Compact(g.nums)
		if len(nums) == 1 {
			parts = append(parts, fmt.Sprintf("%s%0*d", g.prefix, g.width, nums[0]))
			continue
		}
		var rs []string
		for i := 0; i < len(nums); {
			j := i
			for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
				j++
			}
			if i == j {
				rs = append(rs, fmt.Sprintf("%0*d", g.width, nums[i]))
			} else {
				rs = append(rs, fmt.Sprintf("%0*d-%0*d", g.width, nums[i], g.width, nums[j]))
			}
			i = j + 1
		}
		parts = append(parts, g.prefix+"["+strings.Join(rs, ",")+"]")
	}
	return strings.Join(parts, ",")
}

// maxDigits is the longest numeric suffix Compress puts in brackets (and
// the longest number Expand reads).
const maxDigits = 9

// Compare orders host names the way people read them, and Compress orders
// prefixes: runs of digits compare by value ("node2" before "node10"), and
// equal values by length, shorter first ("node1" before "node01"), so that
// the order is total. Other bytes compare as bytes.
func Compare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			da, db := digitRun(a), digitRun(b)
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb), cmp.Compare(da, db)); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
