//go:build linux

package hca

import (
	"fmt"
	"net"
	"os"
	"slices"
	"sort"

	"github.com/Mellanox/rdmamap"
)

// HostLocate finds a device's PCI address (or auxiliary device, for
// sub-functions) and netdevs on the live host through rdmamap, which knows
// the kernel's reverse links (pci device -> infiniband/, netdev -> RDMA device
// by GID table or IPoIB hardware address). It reads absolute /sys paths and
// netlink, so it must never be used for a fixture root.
//
// rdmamap indexes into sysfs content without length checks; a panic there
// is turned into an error so the inventory survives an odd host.
func HostLocate(device string) (loc Location, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("rdmamap panicked: %v", p)
		}
	}()
	loc.PCIAddress = findParent(rdmamap.PciDevDir, device, rdmamap.GetRdmaDevicesForPcidev)
	if loc.PCIAddress == "" {
		loc.AuxDevice = findParent(rdmamap.AuxDevDir, device, rdmamap.GetRdmaDevicesForAuxdev)
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return loc, fmt.Errorf("list netdevs: %w", err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if netdevFor(ifc.Name) == device {
			loc.Netdevs = append(loc.Netdevs, ifc.Name)
		}
	}
	sort.Strings(loc.Netdevs)
	return loc, nil
}

// findParent returns the entry of busDir whose RDMA devices include device.
func findParent(busDir, device string, devicesOf func(string) []string) string {
	entries, err := os.ReadDir(busDir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if slices.Contains(devicesOf(e.Name()), device) {
			return e.Name()
		}
	}
	return ""
}

// netdevFor asks rdmamap which RDMA device backs netdev; "" when none or
// when rdmamap fails or panics on this one netdev.
func netdevFor(netdev string) (dev string) {
	defer func() {
		if recover() != nil {
			dev = ""
		}
	}()
	dev, err := rdmamap.GetRdmaDeviceForNetdevice(netdev)
	if err != nil {
		return ""
	}
	return dev
}
