package hca

// P_Key tables: the node agent's own witness that a job's partition
// reached its ports. The subnet manager reports what it programmed; the
// adapter's table (ports/<n>/pkeys/<index>, one file per slot) is what the
// hardware enforces, so a job starts only when every active InfiniBand
// port of the node holds the job's key.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// PKeyMembership is the full-membership bit of a P_Key. A full member may
// talk to every member of the partition; a limited member only to full
// members.
const PKeyMembership = 0x8000

// maxPKeySlots bounds the slots read per port: the P_Key table index is 16
// bits (PortInfo.PartitionCap), real adapters have 64 to 128 slots.
const maxPKeySlots = 1 << 16

// ErrNoActivePort is returned by HasPKey when the node has no active
// InfiniBand port, so there is nothing that could hold a key.
var ErrNoActivePort = errors.New("hca: no active InfiniBand port")

// PortPKeys is one port's P_Key table as sysfs shows it.
type PortPKeys struct {
	// Port is "<device>/<port number>", e.g. "mlx5_0/1".
	Port string
	// GUID is the port GUID (from gids/0), 0 when unknown.
	GUID GUID
	// State and LinkLayer decide whether the port must hold a job's key:
	// only active InfiniBand ports must (RoCE ports have no partitions).
	State     State
	LinkLayer string
	// Keys are the occupied slots in index order, as stored: with the
	// membership bit. Empty slots (0x0000, or 0x8000) are left out.
	Keys []uint16
}

// mustHoldKeys reports whether the port takes part in partitions: active
// and InfiniBand. A port whose link_layer file is missing (older kernels)
// counts as InfiniBand.
func (p PortPKeys) mustHoldKeys() bool {
	return p.State.Known() && p.State.Code == PortActive && p.LinkLayer != "Ethernet"
}

// ParsePKey parses a pkeys/<index> file: "0x" and 1-4 hex digits, as the
// kernel prints it ("0xffff\n"). 0x0000 is an empty slot, not an error.
func ParsePKey(s string) (uint16, error) {
	t := strings.TrimSpace(s)
	hex, ok := strings.CutPrefix(t, "0x")
	if !ok {
		hex, ok = strings.CutPrefix(t, "0X")
	}
	if !ok {
		return 0, fmt.Errorf("P_Key %q: want 0x and 1-4 hex digits", s)
	}
	v, err := parseHex(hex, 4)
	if err != nil {
		return 0, fmt.Errorf("P_Key %q: %w", s, err)
	}
	return uint16(v), nil
}

// FormatPKey prints a P_Key the way sysfs does: "0x8001".
func FormatPKey(k uint16) string { return fmt.Sprintf("0x%04x", k) }

// PKeyTables reads the P_Key table of every port under Root, sorted by
// port. err joins one *FileError per unreadable or malformed file; the
// tables are returned regardless, without the bad slots.
func (s *Scanner) PKeyTables() ([]PortPKeys, error) {
	dir := filepath.Join(s.root(), ClassDir)
	r := &reader{}
	devs, ok := r.dir(dir)
	if !ok {
		return nil, errors.Join(r.errs...)
	}
	var out []PortPKeys
	for _, d := range devs {
		dev := filepath.Join(dir, d.Name())
		if st, err := os.Stat(dev); err != nil || !st.IsDir() {
			continue // Inventory reports these
		}
		ports, ok := r.dir(filepath.Join(dev, "ports"))
		if !ok {
			continue
		}
		for _, p := range ports {
			n, err := parseDecimal(p.Name(), 3)
			if err != nil || n == 0 || n > 255 {
				r.fail(filepath.Join(dev, "ports", p.Name()), errors.New("port directory name is not a port number 1-255"))
				continue
			}
			pdir := filepath.Join(dev, "ports", p.Name())
			t := PortPKeys{Port: fmt.Sprintf("%s/%d", d.Name(), n)}
			t.State = parsed(r, pdir, "state", ParseState)
			t.LinkLayer = r.text(pdir, "link_layer")
			t.GUID = parsed(r, filepath.Join(pdir, "gids"), "0", ParseGID).InterfaceID()
			t.Keys = r.pkeys(filepath.Join(pdir, "pkeys"))
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return portLess(out[i].Port, out[j].Port) })
	return out, errors.Join(r.errs...)
}

// portLess orders "dev/port" by device name, then port number.
func portLess(a, b string) bool {
	da, pa, _ := strings.Cut(a, "/")
	db, pb, _ := strings.Cut(b, "/")
	if da != db {
		return da < db
	}
	return len(pa) < len(pb) || len(pa) == len(pb) && pa < pb
}

// pkeys reads the occupied slots of one port's table in index order.
func (r *reader) pkeys(dir string) []uint16 {
	entries, ok := r.dir(dir)
	if !ok {
		return nil
	}
	type slot struct {
		index uint64
		key   uint16
	}
	var slots []slot
	for _, e := range entries {
		idx, err := parseDecimal(e.Name(), 5)
		if err != nil || idx >= maxPKeySlots {
			r.fail(filepath.Join(dir, e.Name()), errors.New("P_Key slot name is not an index 0-65535"))
			continue
		}
		k, ok := r.value(dir, e.Name())
		if !ok {
			continue
		}
		key, err := ParsePKey(k)
		if err != nil {
			r.fail(filepath.Join(dir, e.Name()), err)
			continue
		}
		if key&^PKeyMembership != 0 {
			slots = append(slots, slot{idx, key})
		}
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].index < slots[j].index })
	keys := make([]uint16, len(slots))
	for i, s := range slots {
		keys[i] = s.key
	}
	return keys
}

// PKeys maps every port ("mlx5_0/1") to the occupied slots of its P_Key
// table, in index order, with the membership bit. See PKeyTables.
func (s *Scanner) PKeys() (map[string][]uint16, error) {
	tables, err := s.PKeyTables()
	m := make(map[string][]uint16, len(tables))
	for _, t := range tables {
		m[t.Port] = t.Keys
	}
	return m, err
}

// PKeyMatch is a port that holds a partition.
type PKeyMatch struct {
	Port string // "mlx5_0/1"
	GUID GUID   // 0 when unknown
	// Full is set when the port is a full member (some slot has the key
	// with the membership bit); otherwise it is a limited member.
	Full bool
}

// HasPKey checks the node's own witness for a job's partition: every
// active InfiniBand port must hold key, with full or limited membership
// (only the low 15 bits are compared; ports reports which). ports lists
// the active InfiniBand ports that hold it, missing those that do not. A
// job may start only when err is nil and missing is empty: err is
// ErrNoActivePort when no port could hold the key, or the joined
// *FileErrors of files that could not be read, in which case a port may be
// in missing only because its table could not be read.
func (s *Scanner) HasPKey(key uint16) (ports []PKeyMatch, missing []string, err error) {
	if key&^PKeyMembership == 0 {
		return nil, nil, fmt.Errorf("hca: %s is not a partition key (its low 15 bits are 0)", FormatPKey(key))
	}
	tables, err := s.PKeyTables()
	base := key &^ PKeyMembership
	active := 0
	for _, t := range tables {
		if !t.mustHoldKeys() {
			continue
		}
		active++
		m := PKeyMatch{Port: t.Port, GUID: t.GUID}
		held := false
		for _, k := range t.Keys {
			if k&^PKeyMembership == base {
				held = true
				m.Full = m.Full || k&PKeyMembership != 0
			}
		}
		if held {
			ports = append(ports, m)
		} else {
			missing = append(missing, t.Port)
		}
	}
	if err == nil && active == 0 {
		err = ErrNoActivePort
	}
	return ports, missing, err
}
