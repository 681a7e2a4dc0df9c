// Package opensm is the sm.Driver for a plain OpenSM: it owns
// OpenSM's partitions.conf.
//
// Apply renders the whole desired set deterministically, validates it
// (our grammar, a round trip back to the desired set, and optionally
// OpenSM's own parser via OpenSMParser), replaces the file atomically,
// sends SIGHUP and then reads the P_Key tables of the affected ports
// back from the fabric until they match, compared as sets (holes
// ignored; limited membership = bit 15 clear).
//
// Why so careful: OpenSM answers any parse error, or an empty file, by
// falling back to "Default=0x7fff : ALL=full" — every tenant in one
// partition, silently (see parse.go for the rest of its surprises).
// So a file that fails validation is never installed, and success is
// only reported once the ports themselves say so.
//
// Reading tables back: SMPQuery runs one smpquery per port (works on
// real fabrics; 25-40 ms per port under ibsim). On a simulated fabric
// ibsim.Fabric.PKeyTables reads them over ibsim's own protocol at
// ~0.05-0.1 ms per port. Measured on 2 cores (BenchmarkApplyVerified):
// Apply to verified ~24 ms for 32 hosts and ~460 ms for 648 hosts with
// the direct reader (OpenSM's heavy sweep dominates), ~0.75 s and
// ~27 s with smpquery.
package opensm
