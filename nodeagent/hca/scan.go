package hca

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ClassDir is where RDMA devices live, relative to the scanner root.
const ClassDir = "sys/class/infiniband"

// Location is what the live host knows about a device beyond its sysfs
// attributes.
type Location struct {
	PCIAddress string
	AuxDevice  string
	Netdevs    []string
}

// Scanner reads the HCA inventory under Root.
type Scanner struct {
	// Root is the directory that holds sys/class/infiniband; "" means "/".
	Root string
	// Locate, when set, is called once per device for its PCI address and
	// netdevs. NewScanner sets it to HostLocate only for root "/", so a
	// fixture tree never picks up the test machine's hardware.
	Locate func(device string) (Location, error)
	// NoCounters skips counters/, counters_ext/ and hw_counters/. On real
	// hardware each counters/* read sends a PMA query to the adapter, which
	// a firmware-only inventory does not need.
	NoCounters bool
}

// NewScanner returns a scanner for root, with HostLocate when root is the
// live host's "/".
func NewScanner(root string) *Scanner {
	s := &Scanner{Root: root}
	if IsHostRoot(root) {
		s.Locate = HostLocate
	}
	return s
}

// IsHostRoot reports whether root names the live host's filesystem root.
func IsHostRoot(root string) bool { return root == "" || filepath.Clean(root) == "/" }

// Inventory scans root with NewScanner(root).
func Inventory(root string) ([]Device, error) { return NewScanner(root).Inventory() }

// Inventory returns every device under Root sorted by name. A host without
// RDMA devices (no class directory) yields no devices and no error. err
// joins one *FileError per unreadable or malformed file; the devices are
// returned regardless, with those fields left unknown.
func (s *Scanner) Inventory() ([]Device, error) {
	dir := filepath.Join(s.root(), ClassDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: dir, Err: err}
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var devs []Device
	var errs []error
	for _, name := range names {
		// Real sysfs entries are symlinks into /sys/devices; Stat follows them.
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.IsDir() {
			errs = append(errs, &FileError{Path: filepath.Join(dir, name), Err: errors.New("not a device directory")})
			continue
		}
		d, err := s.Device(name)
		devs = append(devs, d)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return devs, errors.Join(errs...)
}

// Device reads one device by name. A missing device is an error; a
// malformed file is reported like in Inventory, with the device returned.
func (s *Scanner) Device(name string) (Device, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return Device{}, fmt.Errorf("hca: invalid device name %q", name)
	}
	dir := filepath.Join(s.root(), ClassDir, name)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return Device{}, &FileError{Path: dir, Err: err}
	}
	r := &reader{}
	d := Device{Name: name}
	d.HCAType = r.text(dir, "hca_type")
	d.FWVersion = r.text(dir, "fw_ver")
	d.BoardID = r.text(dir, "board_id")
	d.NodeDesc = r.text(dir, "node_desc")
	d.NodeGUID = parsed(r, dir, "node_guid", ParseGUID)
	d.SysImageGUID = parsed(r, dir, "sys_image_guid", ParseGUID)
	d.NodeType = parsed(r, dir, "node_type", ParseState)
	d.Ports = s.ports(r, dir)
	if s.Locate != nil {
		loc, err := s.Locate(name)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("hca: locate %s: %w", name, err))
		}
		d.PCIAddress, d.AuxDevice, d.Netdevs = loc.PCIAddress, loc.AuxDevice, loc.Netdevs
	}
	return d, errors.Join(r.errs...)
}

func (s *Scanner) root() string {
	if s.Root == "" {
		return "/"
	}
	return s.Root
}

func (s *Scanner) ports(r *reader, dev string) []Port {
	pdir := filepath.Join(dev, "ports")
	entries, ok := r.dir(pdir)
	if !ok {
		return nil
	}
	var ports []Port
	for _, e := range entries {
		n, err := parseDecimal(e.Name(), 3)
		if err != nil || n == 0 || n > 255 {
			r.fail(filepath.Join(pdir, e.Name()), errors.New("port directory name is not a port number 1-255"))
			continue
		}
		ports = append(ports, s.port(r, filepath.Join(pdir, e.Name()), int(n)))
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Number < ports[j].Number })
	return ports
}

func (s *Scanner) port(r *reader, dir string, n int) Port {
	p := Port{Number: n}
	p.State = parsed(r, dir, "state", ParseState)
	p.PhysState = parsed(r, dir, "phys_state", ParseState)
	p.LinkLayer = r.text(dir, "link_layer")
	p.Rate = parsed(r, dir, "rate", ParseRate)
	p.GID = parsed(r, filepath.Join(dir, "gids"), "0", ParseGID)
	p.GUID = p.GID.InterfaceID()
	p.LID = parsed(r, dir, "lid", ParseLID)
	p.SMLID = parsed(r, dir, "sm_lid", ParseLID)
	p.LMC = parsed(r, dir, "lid_mask_count", parseLMC)
	if !s.NoCounters {
		p.Counters = r.counters(dir, "counters", &p.UnavailableCounters)
		p.ExtCounters = r.counters(dir, "counters_ext", &p.UnavailableCounters)
		p.HWCounters = r.counters(dir, "hw_counters", &p.UnavailableCounters)
	}
	return p
}
