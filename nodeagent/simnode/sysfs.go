package simnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

// The simulated HCA: one ConnectX-6-like adapter per node, named like the
// mlx5 driver names the first one, with the attributes the agent's
// inventory, firmware check and P_Key check read.
const (
	HCAName = "mlx5_0"
	hcaType = "MT4123"
	// PKeyTableLen is the number of P_Key table slots a simulated port
	// shows (pkeys/0 .. pkeys/31). Real ConnectX ports have 128; 32 keeps
	// 64 nodes' trees small and is more than a node ever holds (the
	// default partition and one job's key). A fabric that reports a
	// longer table (ibsim reports its PartitionCap) gets that length.
	PKeyTableLen = 32
)

// sysfs is one node's fake /sys tree under root: what the agent scans with
// Config.SysfsRoot = root.
type sysfs struct {
	root  string
	ports []sm.GUID

	mu     sync.Mutex
	pkeys  map[int][]uint16 // port number -> slots as last written
	fwPath string
}

// devDir is sys/class/infiniband/<HCAName> under root.
func (s *sysfs) devDir() string { return filepath.Join(s.root, hca.ClassDir, HCAName) }

func (s *sysfs) portDir(port int) string {
	return filepath.Join(s.devDir(), "ports", strconv.Itoa(port))
}

// create writes the tree: the HCA attributes, one port per GUID (numbered
// from 1, like a dual-port adapter's) active on the fabric, and each
// port's P_Key table holding the default partition as a limited member,
// which is what a tenant port holds before the SM has given it any
// partition (sm.TenantIsolation). lid is the first port's LID. It
// overwrites an existing tree: a simulated node boots with fresh sysfs.
func (s *sysfs) create(node string, psid, fw string, lid uint16) error {
	if len(s.ports) == 0 {
		return errors.New("simnode: a node needs at least one port GUID")
	}
	if err := os.RemoveAll(filepath.Join(s.root, "sys")); err != nil {
		return err
	}
	nodeGUID := hca.GUID(s.ports[0] - 1) // ibsim numbers port GUIDs node GUID + 1
	dev := s.devDir()
	attrs := map[string]string{
		"hca_type":       hcaType,
		"fw_ver":         fw,
		"board_id":       psid,
		"node_desc":      node + " HCA-1",
		"node_guid":      nodeGUID.String(),
		"sys_image_guid": nodeGUID.String(),
		"node_type":      "1: CA",
	}
	for name, v := range attrs {
		if err := s.writeAttr(filepath.Join(dev, name), v); err != nil {
			return err
		}
	}
	s.fwPath = filepath.Join(dev, "fw_ver")
	s.pkeys = map[int][]uint16{}
	for i, g := range s.ports {
		n := i + 1
		dir := s.portDir(n)
		gid := fmt.Sprintf("fe80:0000:0000:0000:%s", hca.GUID(g).String())
		for name, v := range map[string]string{
			"state":          "4: ACTIVE",
			"phys_state":     "5: LinkUp",
			"link_layer":     "InfiniBand",
			"rate":           "200 Gb/sec (4X HDR)",
			"lid":            fmt.Sprintf("0x%x", lid+uint16(i)),
			"sm_lid":         "0x1",
			"lid_mask_count": "0",
			"gids/0":         gid,
		} {
			if err := s.writeAttr(filepath.Join(dir, name), v); err != nil {
				return err
			}
		}
		if err := s.writePKeys(n, []uint16{uint16(sm.MakeEntry(sm.DefaultPKey, sm.Limited))}); err != nil {
			return err
		}
	}
	return nil
}

// setFirmware rewrites fw_ver, as the driver does after a firmware reset.
func (s *sysfs) setFirmware(version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeAttr(s.fwPath, version)
}

// portOf returns the port number of guid on this node, or 0.
func (s *sysfs) portOf(guid sm.GUID) int {
	for i, g := range s.ports {
		if g == guid {
			return i + 1
		}
	}
	return 0
}

// WritePKeys replaces the P_Key table of the node's port with GUID guid by
// raw: table slots in index order, 0x0000 for an empty slot, bit 15 for
// full membership, as the kernel shows them in ports/N/pkeys/<index>
// ("0xffff"). Slots beyond len(raw) are emptied, up to PKeyTableLen or
// the length of raw, whichever is longer. Only slots whose value changed
// are rewritten, each atomically, so a concurrent reader (the agent's
// P_Key check) sees every slot either before or after, never torn.
func (s *sysfs) WritePKeys(guid sm.GUID, raw []uint16) error {
	port := s.portOf(guid)
	if port == 0 {
		return fmt.Errorf("simnode: port %s is not on this node", guid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writePKeys(port, raw)
}

func (s *sysfs) writePKeys(port int, raw []uint16) error {
	n := max(len(raw), PKeyTableLen)
	slots := make([]uint16, n)
	copy(slots, raw)
	old := s.pkeys[port]
	dir := filepath.Join(s.portDir(port), "pkeys")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, v := range slots {
		if i < len(old) && old[i] == v {
			continue
		}
		if err := s.writeAttr(filepath.Join(dir, strconv.Itoa(i)), fmt.Sprintf("0x%04x", v)); err != nil {
			return err
		}
	}
	for i := n; i < len(old); i++ {
		if err := os.Remove(filepath.Join(dir, strconv.Itoa(i))); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	s.pkeys[port] = slots
	return nil
}

// writeAttr writes a sysfs-style attribute (value and newline, mode 0444
// like sysfs's read-only attributes) through a temporary file in
// s.root/.tmp and a rename, so readers never see it half written nor a
// temporary name among the attributes (a P_Key check lists pkeys/).
func (s *sysfs) writeAttr(path, value string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmpDir := filepath.Join(s.root, ".tmp")
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(tmpDir, "attr-*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(value + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o444)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// tableSlots turns a table the SM reports as a set into slots: the
// default partition first (OpenSM keeps it at index 0), then the other
// keys in order.
func tableSlots(t sm.Table) []uint16 {
	slots := make([]uint16, 0, len(t))
	for _, e := range t {
		if e.PKey() == sm.DefaultPKey {
			slots = append(slots, uint16(e))
		}
	}
	for _, e := range t {
		if e.PKey() != sm.DefaultPKey {
			slots = append(slots, uint16(e))
		}
	}
	return slots
}
