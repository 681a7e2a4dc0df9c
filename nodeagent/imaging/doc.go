// Package imaging writes OS images onto node disks and proves what it
// wrote.
//
// Reimaging is how a node goes from one tenant to the next, so a node must
// never be handed out with an image that merely "mostly" arrived. Write
// therefore streams the image once, hashing while it writes, and reports
// success only after the byte count and the sha256 both equal the catalog
// entry and the target has been made durable. Anything less is a typed
// error (ErrSizeMismatch, ErrDigestMismatch, ErrReadBackMismatch, or a
// *DiskError carrying the failing offset), and Evidence.Dirty tells the
// caller that the target may hold a partial image and must not boot.
//
// The pieces follow the node agent's usual split:
//
//   - Image is a catalog entry; Validate refuses names, versions and URLs
//     that could escape a directory or reach an unexpected scheme, because
//     catalog entries come over the network.
//   - Source is where bytes come from: HTTPSource (GET, Range resume
//     verified by a 206 and its Content-Range) or FileSource (file://).
//   - Disk is where the hardware sits: FileDisk is the real one (a block
//     device or a regular file, buffered writes and one fdatasync at the
//     end); FakeDisk is the test double that fails on purpose (EIO at an
//     offset, short writes, slow writes, lost or corrupted writes).
//
// The copy is a two-goroutine pipeline over a small ring of large buffers:
// the caller's goroutine reads from the source and hashes (a TeeReader in
// effect, so the digest covers exactly the bytes handed to the disk, in
// order), while a second goroutine writes the previous buffer. Network,
// hash and disk therefore overlap instead of taking turns.
//
// Buffered rather than O_DIRECT writes: O_DIRECT needs sector-aligned
// buffers, offsets and lengths (an image's tail rarely is), and all Write
// needs from the kernel is one durability point, which the fdatasync at the
// end gives. Read-back drops the target's cached pages first where the
// platform allows (posix_fadvise DONTNEED on Linux), so it re-reads the
// medium rather than the page cache the write just filled.
package imaging
