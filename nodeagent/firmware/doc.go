// Package firmware keeps HCA firmware at the version a cluster policy pins.
//
// Mixed firmware on a fabric is a classic source of hard-to-debug HPC
// failures (link flaps, RDMA timeouts that only appear at scale), so the node
// agent treats firmware as declared state: a Policy maps each board PSID to
// one firmware version and the sha256 of its image file, Check compares what
// a node has against it, and Pin converges a device to it.
//
// The hardware sits behind the Flasher interface. Mstflint drives the real
// tools (mstflint for query and burn, mstfwreset to activate); Fake simulates
// a device for tests, including the failure modes that matter: a failed
// burn, a reset that does not activate, a burn that "succeeds" with the wrong
// version. Pin never guesses: any failure, or any result it cannot verify,
// comes back as a *QuarantineError so the scheduler keeps the node out of
// jobs until a human looks.
//
// ConnectX firmware has two versions at once: the one burned on flash and the
// one running. A burn only changes flash; the new version runs after a
// firmware reset (mstfwreset) or reboot, and until then mstflint prints
// "FW Version(Running)" next to "FW Version". Both must equal the pinned
// version for a device to be compliant.
package firmware
