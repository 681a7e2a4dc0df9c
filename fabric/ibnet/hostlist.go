package ibnet

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

const maxSuffixDigits = 9

// compressHostlist writes names as a Slurm hostlist expression, e.g.
// node001,node002,node003,node007 -> "node[001-003,007]". Zero padding is
// kept: numbers with a leading zero only share brackets with numbers of the
// same width, because Slurm expands "[098-100]" with width 3 but "[98-100]"
// without padding. Names without a numeric suffix are listed as they are.
// The result expands to exactly the input set (duplicates dropped).
//
// Suffixes longer than maxSuffixDigits are not ranged: they are the tail of
// a GUID-based ID ("H-0008f10403960558"), and "H-0008f[10403960558,...]"
// would be valid but unreadable.
func compressHostlist(names []string) string {
	type key struct {
		prefix string
		width  int // 0: unpadded numbers
	}
	groups := make(map[key][]uint64)
	var plain []string
	seen := make(map[string]bool, len(names))
	var unpadded []string
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		prefix, digits := splitNumericSuffix(n)
		if digits == "" || len(digits) > maxSuffixDigits || strings.ContainsAny(prefix, "[],") {
			plain = append(plain, n)
			continue
		}
		if len(digits) > 1 && digits[0] == '0' {
			v, _ := strconv.ParseUint(digits, 10, 64)
			k := key{prefix, len(digits)}
			groups[k] = append(groups[k], v)
			continue
		}
		unpadded = append(unpadded, n)
	}
	// An unpadded number as wide as a padded group ("100" next to
	// "098", "099") prints the same either way, so it joins that group.
	for _, n := range unpadded {
		prefix, digits := splitNumericSuffix(n)
		v, _ := strconv.ParseUint(digits, 10, 64)
		k := key{prefix, len(digits)}
		if _, ok := groups[k]; !ok {
			k.width = 0
		}
		groups[k] = append(groups[k], v)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(strings.Compare(a.prefix, b.prefix), a.width-b.width)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, formatGroup(k.prefix, k.width, groups[k]))
	}
	slices.SortFunc(plain, naturalCompare)
	return strings.Join(append(parts, plain...), ",")
}

func formatGroup(prefix string, width int, nums []uint64) string {
	slices.Sort(nums)
	nums = slices.Compact(nums)
	num := func(v uint64) string {
		s := strconv.FormatUint(v, 10)
		if len(s) < width {
			s = strings.Repeat("0", width-len(s)) + s
		}
		return s
	}
	if len(nums) == 1 {
		return prefix + num(nums[0])
	}
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte('[')
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(num(nums[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(num(nums[j]))
		}
		i = j + 1
	}
	b.WriteByte(']')
	return b.String()
}

// splitNumericSuffix splits "gpu-a01" into "gpu-a" and "01".
func splitNumericSuffix(s string) (prefix, digits string) {
	i := len(s)
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	return s[:i], s[i:]
}

// naturalCompare orders names the way people read them: node2 before
// node10. Digit runs compare by value, then by length (so "01" sorts
// before "1" and the order stays total).
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			da, db := digitRun(a), digitRun(b)
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb), cmp.Compare(db, da)); c != 0 {
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

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
