package imaging

import "io"

// Disk is where the hardware sits: the target Write streams an image onto.
// FileDisk is the real implementation (a block device or a regular file);
// FakeDisk is the test double. The caller opens and closes the Disk; Write
// never closes it, so the caller can erase or inspect it after a failure.
type Disk interface {
	// WriteAt and ReadAt follow io.WriterAt and io.ReaderAt. Write treats
	// a short write with a nil error as a failure, not as a retry hint.
	io.WriterAt
	io.ReaderAt
	// Sync makes everything written so far durable (fdatasync). Write
	// calls it once, after the last byte and before any verdict.
	Sync() error
	// Capacity is the most bytes the target can hold, or -1 if it grows
	// (a regular file). Write refuses images larger than a fixed capacity
	// before touching the target.
	Capacity() (int64, error)
	// Name identifies the target in evidence and errors.
	Name() string
}

// CacheDropper is implemented by disks whose reads can be served from the
// page cache. Read-back calls DropCache after Sync so that it re-reads the
// medium; without it, read-back would only prove the page cache right.
type CacheDropper interface {
	DropCache() error
}
