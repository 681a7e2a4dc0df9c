//go:build linux && (amd64 || arm64)

package diskio

import (
	"os"
	"syscall"
)

const fadvDontNeed = 4 // POSIX_FADV_DONTNEED on Linux

// DropCache calls posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED): evict the
// file's clean pages, so a read-back verification reads the disk rather
// than the page cache. Only amd64 and arm64 are wired up because the
// syscall's argument layout differs on 32-bit ports.
func DropCache(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_FADVISE64, fd, 0, 0, fadvDontNeed, 0, 0)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return &os.PathError{Op: "fadvise", Path: f.Name(), Err: errno}
	}
	return nil
}
