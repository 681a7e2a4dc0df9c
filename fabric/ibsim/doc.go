// Package ibsim starts a real, simulated InfiniBand fabric for tests
// and demos: an ibsim two-level fat tree and an unmodified OpenSM
// attached to it through libumad2sim.so (LD_PRELOAD). No RDMA hardware,
// kernel modules or root are needed; only the subnet-management plane
// exists (no data path).
//
// Why a real SM instead of a mock: the failure modes that matter for
// tenant isolation (a parse error that falls back to "ALL=full", holes
// in P_Key tables, a SIGHUP that is lost while opensm restarts) only
// show up with OpenSM itself.
//
// Debian 12: apt-get install -y opensm ibsim-utils infiniband-diags.
// Available reports precisely what is missing.
//
// Limits worth knowing: ibsim serves at most 10 client processes
// (opensm is one; Run limits tool processes; PKeyTables uses one more
// slot), and a client killed by a signal keeps its slot, so nothing
// here kills tools.
package ibsim
