package hca

import (
	"fmt"
	"os"
	"syscall"
)

// readAttr reads one attribute file whole, at most maxAttrSize bytes,
// with plain open/read/close.
//
// Why not os.Open and io.ReadAll: an agent reads its HCA's attributes and
// P_Key slots (a few dozen files) before every job start, for every
// hand-out check and every firmware step. os.Open makes each an *os.File
// (non-blocking mode set and cleared, a try at the network poller, a
// finalizer) and ReadAll a growing buffer: ~7 system calls and ~10
// allocations per file where 4 calls and one string do. On 512 simulated
// nodes, whose agents share ibexd's process, those reads were ~15% of its
// CPU in bench/agentpath. Attributes are read in one go as before: the
// content (an attribute is generated whole on its first read) until EOF,
// and a file larger than maxAttrSize is refused, not truncated.
func readAttr(path string) (string, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return "", &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var small [512]byte
	buf := small[:]
	n := 0
	for {
		if n == len(buf) {
			if len(buf) > maxAttrSize {
				return "", fmt.Errorf("larger than %d bytes, not a sysfs attribute", maxAttrSize)
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	if n > maxAttrSize {
		return "", fmt.Errorf("larger than %d bytes, not a sysfs attribute", maxAttrSize)
	}
	return string(buf[:n]), nil
}
