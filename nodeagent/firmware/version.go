package firmware

import (
	"fmt"
	"strconv"
	"strings"
)

// SameVersion reports whether two firmware versions are the same. Dotted
// decimal versions compare by number, because tools disagree on zero
// padding (mstflint and mlx5 print the sub-minor as %04d, mlx4 as %d); other
// strings must match exactly. An empty version is unknown and matches
// nothing.
func SameVersion(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" || b == "" {
		return false
	}
	na, okA := dotted(a)
	nb, okB := dotted(b)
	if !okA || !okB {
		return a == b
	}
	if len(na) != len(nb) {
		return false
	}
	for i := range na {
		if na[i] != nb[i] {
			return false
		}
	}
	return true
}

func dotted(s string) ([]uint64, bool) {
	parts := strings.Split(s, ".")
	out := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.TrimLeft(p, "0123456789") != "" {
			return nil, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// checkVersion accepts what firmware versions look like (20.35.1012,
// rel-20_35_1012): 1-64 letters, digits, '.', '_' and '-'. Anything else in
// a version field means the tool output was not what we parsed it as.
func checkVersion(v string) error {
	if v == "" || len(v) > 64 {
		return fmt.Errorf("version %q: want 1-64 characters", v)
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("version %q: unexpected character %q", v, c)
		}
	}
	return nil
}

// checkPSID accepts PSIDs as Mellanox/NVIDIA and OEMs spell them
// (MT_0000000228, DEL0000000013): 1-16 letters, digits and '_'.
func checkPSID(p string) error {
	if p == "" || len(p) > 16 {
		return fmt.Errorf("PSID %q: want 1-16 characters", p)
	}
	for _, c := range p {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return fmt.Errorf("PSID %q: unexpected character %q", p, c)
		}
	}
	return nil
}
