package ibnet

import "strings"

// hostFromDesc extracts the host from a node description. rdma-ndd and the
// OFED init scripts set it to "<hostname> <device>", e.g. "node042 HCA-1",
// "node042 mlx5_0" or "gpu-a01.cluster mlx5_3"; the domain is dropped
// because Slurm uses short names. Firmware defaults such as "MT25408
// ConnectX Mellanox Technologies" have no host part and yield false.
func hostFromDesc(desc string) (string, bool) {
	f := strings.Fields(desc)
	var h string
	switch {
	case len(f) == 1 && !isKnownDevice(f[0]):
		h = f[0]
	case len(f) == 2 && looksLikeDevice(f[1]):
		h = f[0]
	default:
		return "", false
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		h = h[:i]
	}
	if !isHostToken(h) {
		return "", false
	}
	return h, true
}

// looksLikeDevice matches RDMA device names: HCA-1, mlx5_0, mlx5_bond_0,
// qib0, hfi1_0, mthca0: a letter first, a digit last, word characters
// and '-' between.
func looksLikeDevice(s string) bool {
	if len(s) < 2 || !isLetter(s[0]) || !isDigit(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// rdmaDrivers prefixes the device names of RDMA drivers. A description
// that is only a device name ("mlx5_0") comes from rdma-ndd on a host with
// no host name set; other single words ("cn17") are host names.
var rdmaDrivers = []string{"HCA-", "mlx4_", "mlx5_", "mthca", "qib", "hfi1_", "ipath", "ehca", "irdma",
	"bnxt_re", "rxe", "siw", "efa_", "erdma_", "cxgb", "ocrdma", "qedr", "i40iw", "hns_", "vmw_pvrdma", "mana_", "ionic_"}

func isKnownDevice(s string) bool {
	if !looksLikeDevice(s) {
		return false
	}
	for _, p := range rdmaDrivers {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isHostToken accepts host names ([A-Za-z0-9_-], at least one letter) but
// not Mellanox part numbers like "MT25408" that start firmware descriptions.
func isHostToken(s string) bool {
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c):
			letter = true
		case isDigit(c), c == '-' && i > 0, c == '_':
		default:
			return false
		}
	}
	if len(s) > 2 && s[:2] == "MT" && strings.Trim(s[2:], "0123456789") == "" {
		return false
	}
	return letter
}

// switchNameFromDesc gives a readable switch name when the description is
// one: a single token ("ib-i1l1s01") or Mellanox's managed-switch form
// "MF0;<hostname>:<model>/U1". Vendor defaults ("Voltaire 4036 - 36 QDR
// ports switch") are not names and yield "".
func switchNameFromDesc(desc string) string {
	d := strings.TrimSpace(desc)
	if rest, ok := strings.CutPrefix(d, "MF0;"); ok {
		d, _, _ = strings.Cut(rest, ":")
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return ""
		}
	}
	if d == "" || !strings.ContainsFunc(d, func(r rune) bool { return r < 0x80 && isLetter(byte(r)) }) {
		return ""
	}
	return d
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// nameNodes sets Node.Name: the map first, then the description, then the
// dump ID, which is unique and is what PSMN's own topology.conf uses for
// unnamed nodes. A description-derived switch name shared by two switches
// is dropped for both, since topology.conf needs unique switch names.
func nameNodes(f *Fabric, m NameMap) {
	byDesc := make(map[string]int)
	for _, n := range f.Nodes {
		n.Name = ""
		if v, ok := m.lookup(n); ok && v != Excluded {
			n.Name = v
			continue
		}
		switch n.Kind {
		case KindSwitch:
			if d := switchNameFromDesc(n.Desc); d != "" {
				byDesc[d]++
			}
		case KindCA:
			if n.Role == RoleHost {
				n.Name, _ = hostFromDesc(n.Desc)
			}
		}
	}
	for _, n := range f.Nodes {
		if n.Name != "" {
			continue
		}
		if n.Kind == KindSwitch {
			if d := switchNameFromDesc(n.Desc); d != "" && byDesc[d] == 1 {
				n.Name = d
				continue
			}
		}
		n.Name = n.ID
	}
}
