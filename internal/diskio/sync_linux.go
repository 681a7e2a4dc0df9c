//go:build linux

package diskio

import (
	"os"
	"syscall"
)

// ExclusiveBlockOpen is O_EXCL: on Linux, opening a block device with it
// (without O_CREAT) fails with EBUSY while the device is mounted or claimed.
const ExclusiveBlockOpen = syscall.O_EXCL

// Fdatasync flushes f's data and the metadata needed to read it back (its
// size), but not timestamps: that skips a journal commit when only mtime
// changed, which is most of what makes fsync slow. EINTR is retried.
func Fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
