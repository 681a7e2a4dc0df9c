// Package simnode builds simulated nodes that run the real node agent:
// `ibexd --dev` (and tests) start one per simulated host in-process, so
// the simulated cluster goes through the same enrollment, mutual-TLS task
// stream, gossip and hygiene tasks as real machines, and its tests test
// that code path.
//
// Only the hardware is simulated, each with the fake its package already
// has: a sysfs tree with one HCA whose port GUIDs are the ones the
// simulated fabric gives the host (so inventory, fabric placement and the
// node-side P_Key check read the same GUIDs the subnet manager uses), an
// in-memory disk erased by the real overwrite eraser and written by the
// real imaging pipeline, the firmware.Fake flasher, and the bmc.Fake BMC.
// Mirror keeps the nodes' sysfs P_Key tables equal to what the simulated
// subnet manager reports.
//
// Each node lives in its own directory under Config.Root (sysfs, the
// agent's data directory, the job directory), which must be outside
// ibexd's data directory.
package simnode
