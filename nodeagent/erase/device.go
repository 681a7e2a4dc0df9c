package erase

import (
	"fmt"
	"io"
	"os"

	"github.com/ibex-hpc/ibex/internal/diskio"
)

// Device is an open erase target. FileDevice is the real one; FakeDevice
// the test double.
type Device interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes written data durable (fdatasync).
	Sync() error
	// Size is the device (or file) size in bytes.
	Size() (int64, error)
	Close() error
}

// cacheDropper is implemented by devices whose reads may come from the page
// cache; verification drops it so it reads the medium.
type cacheDropper interface {
	DropCache() error
}

// FileDevice is a block device or an existing regular file opened for
// erasing. Unlike an imaging target it is never created or truncated: the
// file's length is the "disk" size.
type FileDevice struct {
	f *os.File
}

var _ Device = (*FileDevice)(nil)

// OpenDevice opens path read-write. A block device is opened exclusively
// on Linux (O_EXCL), so a mounted disk cannot be erased by mistake.
func OpenDevice(path string) (*FileDevice, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	flags := os.O_RDWR
	switch {
	case fi.Mode().IsRegular():
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		flags |= diskio.ExclusiveBlockOpen
	default:
		return nil, fmt.Errorf("erase: %s is neither a block device nor a regular file", path)
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("erase: %w", err)
	}
	return &FileDevice{f: f}, nil
}

// ReadAt reads at off (pread).
func (d *FileDevice) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// WriteAt writes at off (pwrite).
func (d *FileDevice) WriteAt(p []byte, off int64) (int, error) { return d.f.WriteAt(p, off) }

// Sync is fdatasync.
func (d *FileDevice) Sync() error { return diskio.Fdatasync(d.f) }

// Size is the file length or the block device size.
func (d *FileDevice) Size() (int64, error) { return d.f.Seek(0, io.SeekEnd) }

// DropCache evicts clean cached pages (posix_fadvise DONTNEED) so reads
// that follow come from the medium; a no-op where unsupported.
func (d *FileDevice) DropCache() error { return diskio.DropCache(d.f) }

// Close closes the descriptor.
func (d *FileDevice) Close() error { return d.f.Close() }
