package imaging

import (
	"os"
	"syscall"
)

// On Linux, O_EXCL on a block device without O_CREAT means "exclusive
// open": it fails with EBUSY while the device is mounted or claimed.
const exclusiveBlockOpen = syscall.O_EXCL

func fdatasync(f *os.File) error {
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
