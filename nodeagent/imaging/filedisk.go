package imaging

import (
	"fmt"
	"io"
	"os"

	"github.com/ibex-hpc/ibex/internal/diskio"
)

// FileDisk is the real Disk: a block device (/dev/nvme0n1, /dev/sda) or a
// regular file (a simulated node's disk, a raw image being staged).
//
// Writes are ordinary buffered pwrite calls and Sync is fdatasync, so the
// image is durable exactly when Write reports success and no sooner.
type FileDisk struct {
	f     *os.File
	block bool
}

// OpenDisk opens path as an imaging target.
//
// A block device is opened read-write and, on Linux, exclusively
// (O_EXCL): the open fails if the device or one of its partitions is
// mounted or held by another exclusive opener, so a node cannot overwrite
// the disk it is running from. Its capacity is the device size.
//
// Anything else is treated as a regular file: created if missing and
// truncated, so that after a successful Write the file is exactly the
// image. Its capacity is unbounded.
func OpenDisk(path string) (*FileDisk, error) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode()&os.ModeDevice != 0 {
		if fi.Mode()&os.ModeCharDevice != 0 {
			return nil, fmt.Errorf("imaging: %s is a character device, not a disk", path)
		}
		f, err := os.OpenFile(path, os.O_RDWR|diskio.ExclusiveBlockOpen, 0)
		if err != nil {
			return nil, fmt.Errorf("imaging: open block device: %w", err)
		}
		return &FileDisk{f: f, block: true}, nil
	}
	if err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("imaging: %s is neither a block device nor a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("imaging: open target file: %w", err)
	}
	return &FileDisk{f: f}, nil
}

// WriteAt writes p at off (pwrite).
func (d *FileDisk) WriteAt(p []byte, off int64) (int, error) { return d.f.WriteAt(p, off) }

// ReadAt reads from off (pread).
func (d *FileDisk) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// Sync flushes written data with fdatasync: file data and the metadata
// needed to read it back (the size), not timestamps.
func (d *FileDisk) Sync() error { return diskio.Fdatasync(d.f) }

// Capacity returns the device size for a block device, -1 for a file.
func (d *FileDisk) Capacity() (int64, error) {
	if !d.block {
		return -1, nil
	}
	return d.f.Seek(0, io.SeekEnd)
}

// DropCache asks the kernel to evict the target's clean cached pages, so
// the next reads come from the medium. Call it after Sync: dirty pages are
// not dropped. Where unsupported it is a no-op.
func (d *FileDisk) DropCache() error { return diskio.DropCache(d.f) }

// Name is the path the disk was opened with.
func (d *FileDisk) Name() string { return d.f.Name() }

// IsBlockDevice reports whether the target is a block device.
func (d *FileDisk) IsBlockDevice() bool { return d.block }

// Close closes the file descriptor.
func (d *FileDisk) Close() error { return d.f.Close() }

var _ interface {
	Disk
	CacheDropper
} = (*FileDisk)(nil)

// ReadOnlyDisk is a target opened only to read it back (checks after the
// image was written): never created, truncated or opened exclusively.
type ReadOnlyDisk struct{ f *os.File }

// OpenDiskReadOnly opens path (a block device or a regular file) for
// reading.
func OpenDiskReadOnly(path string) (*ReadOnlyDisk, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("imaging: %w", err)
	}
	if fi.Mode()&os.ModeCharDevice != 0 || (fi.Mode()&os.ModeDevice == 0 && !fi.Mode().IsRegular()) {
		return nil, fmt.Errorf("imaging: %s is neither a block device nor a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imaging: open %s to read: %w", path, err)
	}
	return &ReadOnlyDisk{f: f}, nil
}

// ReadAt reads from off (pread).
func (d *ReadOnlyDisk) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// DropCache evicts the file's clean cached pages, so reads see the medium.
func (d *ReadOnlyDisk) DropCache() error { return diskio.DropCache(d.f) }

// Close closes the file.
func (d *ReadOnlyDisk) Close() error { return d.f.Close() }
