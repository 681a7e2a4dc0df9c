// Package hca inventories the RDMA host channel adapters (HCAs) of a node
// from sysfs (/sys/class/infiniband).
//
// The node agent needs this inventory for three decisions: firmware pinning
// (board_id is the PSID that selects a firmware image, fw_ver is the firmware
// the driver is running), fabric health (port state, rate and counters), and
// whether a job's partition reached the node (the ports' P_Key tables, see
// HasPKey).
//
// Everything is read relative to a configurable root so that tests and
// offline tools can point the scanner at a copied sysfs tree; the live host
// is root "/". Only on the live host does the scanner ask
// github.com/Mellanox/rdmamap for the PCI address and network devices,
// because rdmamap reads absolute /sys paths and netlink and would otherwise
// report the test machine's hardware for a fixture tree.
//
// Parsing is defensive because sysfs content differs between drivers and
// kernels: a missing file leaves its field at the zero value, which every type
// documents as "unknown"; a file whose content cannot be parsed produces a
// *FileError naming the file, and the rest of the inventory is still returned.
// Nothing in this package panics on bad input.
package hca
