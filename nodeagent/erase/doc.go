// Package erase wipes a node's local disks between tenants and proves it
// did.
//
// A node goes to the next tenant only after the previous tenant's data is
// gone, so an erase is judged by what can be read afterwards, not by a
// tool's exit status. Every Eraser returns Evidence (method, bytes, the
// seeded sample offsets it read back, timings) and reports a failed check
// as a *VerifyError (errors.Is(err, ErrVerify)).
//
// The disk-type split:
//
//   - Overwrite writes zeros or a pattern over the whole target with
//     buffered writes and one fdatasync, then reads back the first and last
//     blocks plus N seeded random samples. It is what simulated nodes and
//     tests use (the target is a file), and it works on any block device,
//     slowly.
//   - Block is a sketch for real hardware: it selects a method by disk kind
//     (NVMe: `nvme format --ses=1`; SSD: `blkdiscard --secure`; HDD and as
//     the fallback: `blkdiscard --zeroout`), builds the command lines,
//     parses the tools' output, and checks the result with canary blocks
//     written before the erase. Its tests use recorded output and fake
//     command runners, plus the real blkdiscard against a loop device when
//     the test runs as root. It has NOT been exercised on real SSDs, NVMe
//     drives or HDDs here; expect to adjust parsing and fallbacks against
//     real controllers before trusting it in production.
//   - FakeDevice is a device double that fails on purpose (writes that are
//     acknowledged but not made, EIO, failing flush); Fake is an Eraser
//     double for callers' tests.
package erase
