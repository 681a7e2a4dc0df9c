package hca

// Device is one RDMA device (/sys/class/infiniband/<Name>). Fields whose
// sysfs file is missing keep their zero value, which means "unknown".
type Device struct {
	// Name is the kernel device name: mlx5_0, hfi1_0, i40iw0, ...
	Name string
	// HCAType is hca_type, e.g. "MT4118" (ConnectX-5). Not every driver
	// has it (hfi1 does not).
	HCAType string
	// FWVersion is fw_ver: the firmware the device is running now, as the
	// driver read it at probe time. It does not show firmware that has
	// been burned to flash but not yet activated; mstflint does.
	FWVersion string
	// BoardID is board_id. On Mellanox/NVIDIA adapters it is the PSID
	// (e.g. "MT_0000000228"), the key that selects a firmware image; other
	// vendors put free text here.
	BoardID string
	// NodeGUID and SysImageGUID come from node_guid and sys_image_guid.
	NodeGUID     GUID
	SysImageGUID GUID
	// NodeType is node_type, e.g. "1: CA".
	NodeType State
	// NodeDesc is node_desc, usually "<hostname> <device>"; the subnet
	// manager shows it, so mismatches help find miscabled nodes.
	NodeDesc string
	// PCIAddress ("0000:3b:00.0") and Netdevs are filled in only when the
	// scanner has a Locate function, which by default is only on the live
	// host (root "/").
	PCIAddress string
	// AuxDevice is the auxiliary bus device (e.g. "mlx5_core.sf.4") of a
	// sub-function that has no PCI function of its own.
	AuxDevice string
	Netdevs   []string
	// Ports are sorted by number.
	Ports []Port
}

// PSID returns the board_id, under the name firmware tools give it.
func (d Device) PSID() string { return d.BoardID }

// Port is one port of a Device (ports/<Number>).
type Port struct {
	Number int
	// State is the logical state ("4: ACTIVE"); PhysState the physical
	// link state ("5: LinkUp").
	State     State
	PhysState State
	Rate      Rate
	// LinkLayer is "InfiniBand" or "Ethernet" (RoCE).
	LinkLayer string
	// GID is gids/0. GUID is its interface ID, which on an InfiniBand
	// port is the port GUID; on RoCE it is derived from the MAC.
	GID  GID
	GUID GUID
	// LID and SMLID are lid and sm_lid (0 = unassigned or unknown); LMC
	// is lid_mask_count.
	LID   uint16
	SMLID uint16
	LMC   uint8
	// Counters holds counters/*, ExtCounters counters_ext/* (older mlx4
	// 64-bit set) and HWCounters hw_counters/* (driver specific). Keys are
	// file names; nil when the directory is missing. Note that
	// port_xmit_data and port_rcv_data count 4-octet words, per the spec.
	Counters    map[string]uint64
	ExtCounters map[string]uint64
	HWCounters  map[string]uint64
	// UnavailableCounters lists "dir/name" of counter files that exist but
	// say "N/A" (no PMA on this adapter).
	UnavailableCounters []string
}

// Active reports whether the port's logical state is ACTIVE.
func (p Port) Active() bool { return p.State.Known() && p.State.Code == PortActive }

// LinkUp reports whether the port's physical state is LinkUp.
func (p Port) LinkUp() bool { return p.PhysState.Known() && p.PhysState.Code == PhysLinkUp }
