// Package hostlist parses and formats Slurm-style host list expressions such
// as "node[001-004,007],gpu01". Operators paste these between tools, so the
// format follows Slurm's: zero padding is kept, ranges are inclusive.
package hostlist

import (
	"errors"
	"fmt"
	"sort"
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
	if s == "" || len(s) > 9 {
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

// Compress formats names as a compact expression. Names that end in digits
// are grouped by prefix and digit width; groups are emitted in the order
// their prefix first appears, with numbers sorted.
func Compress(names []string) string {
	type key struct {
		prefix string
		width  int
	}
	// Zero-padded numbers fix a width per prefix; an unpadded number of
	// that same width joins them (node0999, node1000 -> node[0999-1000]).
	padded := map[string]map[int]bool{}
	split := func(n string) (string, string) {
		i := len(n)
		for i > 0 && n[i-1] >= '0' && n[i-1] <= '9' {
			i--
		}
		return n[:i], n[i:]
	}
	for _, n := range names {
		prefix, digits := split(n)
		if len(digits) > 1 && len(digits) <= 9 && digits[0] == '0' && prefix != "" {
			if padded[prefix] == nil {
				padded[prefix] = map[int]bool{}
			}
			padded[prefix][len(digits)] = true
		}
	}
	var order []key
	groups := map[key][]int{}
	var plain []string
	for _, n := range names {
		prefix, digits := split(n)
		if digits == "" || len(digits) > 9 || prefix == "" {
			plain = append(plain, n)
			order = append(order, key{prefix: n, width: -1})
			continue
		}
		v, _ := strconv.Atoi(digits)
		w := 0
		if padded[prefix][len(digits)] {
			w = len(digits)
		}
		k := key{prefix, w}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], v)
	}
	_ = plain
	var parts []string
	emitted := map[key]bool{}
	for _, k := range order {
		if emitted[k] {
			continue
		}
		emitted[k] = true
		if k.width < 0 {
			parts = append(parts, k.prefix)
			continue
		}
		nums := groups[k]
		sort.Ints(nums)
		nums = dedup(nums)
		if len(nums) == 1 {
			parts = append(parts, fmt.Sprintf("%s%0*d", k.prefix, k.width, nums[0]))
			continue
		}
		var rs []string
		for i := 0; i < len(nums); {
			j := i
			for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
				j++
			}
			if i == j {
				rs = append(rs, fmt.Sprintf("%0*d", k.width, nums[i]))
			} else {
				rs = append(rs, fmt.Sprintf("%0*d-%0*d", k.width, nums[i], k.width, nums[j]))
			}
			i = j + 1
		}
		parts = append(parts, k.prefix+"["+strings.Join(rs, ",")+"]")
	}
	return strings.Join(parts, ",")
}

func dedup(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
