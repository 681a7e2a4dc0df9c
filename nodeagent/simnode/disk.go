package simnode

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
)

// DefaultDiskSize is a simulated node's disk size. Erase overwrites all of
// it on every cleaning, so it stays small; images larger than it are
// refused like on a real disk that is too small.
const DefaultDiskSize = 16 << 20

// chunkSize is the unit of memDisk's sparse storage.
const chunkSize = 64 << 10

// memDisk is a simulated node's disk: a fixed-size block device in
// memory, shared by imaging (imaging.Disk) and erasing (erase.Device), so
// an erase really wipes what the last image wrote. Storage is sparse, in
// chunks: an all-zero chunk (a fresh or erased disk) takes no memory, so
// 64 simulated nodes cost almost nothing between tenants.
type memDisk struct {
	name string
	size int64

	mu     sync.Mutex
	chunks map[int64][]byte
}

var (
	_ imaging.Disk         = (*memDisk)(nil)
	_ imaging.CacheDropper = (*memDisk)(nil)
	_ erase.Device         = (*memDisk)(nil)
)

func newMemDisk(name string, size int64) *memDisk {
	return &memDisk{name: name, size: size, chunks: map[int64][]byte{}}
}

func (d *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: d.name, Err: syscall.EINVAL}
	}
	n, err := len(p), error(nil)
	if end := off + int64(n); end > d.size {
		n, err = int(max(d.size-off, 0)), &os.PathError{Op: "write", Path: d.name, Err: syscall.ENOSPC}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for done := 0; done < n; {
		at := off + int64(done)
		idx, in := at/chunkSize, int(at%chunkSize)
		k := min(chunkSize-in, n-done)
		part := p[done : done+k]
		c, ok := d.chunks[idx]
		if !ok && allZero(part) {
			done += k
			continue
		}
		if !ok {
			c = make([]byte, chunkSize)
			d.chunks[idx] = c
		}
		copy(c[in:], part)
		if allZero(c) {
			delete(d.chunks, idx)
		}
		done += k
	}
	return n, err
}

func (d *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: d.name, Err: syscall.EINVAL}
	}
	if off >= d.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), d.size-off))
	d.mu.Lock()
	defer d.mu.Unlock()
	for done := 0; done < n; {
		at := off + int64(done)
		idx, in := at/chunkSize, int(at%chunkSize)
		k := min(chunkSize-in, n-done)
		if c, ok := d.chunks[idx]; ok {
			copy(p[done:done+k], c[in:])
		} else {
			clear(p[done : done+k])
		}
		done += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *memDisk) Sync() error              { return nil }
func (d *memDisk) DropCache() error         { return nil }
func (d *memDisk) Capacity() (int64, error) { return d.size, nil }
func (d *memDisk) Size() (int64, error)     { return d.size, nil }
func (d *memDisk) Name() string             { return d.name }
func (d *memDisk) String() string           { return fmt.Sprintf("simulated disk %s (%d bytes)", d.name, d.size) }
func (d *memDisk) Close() error             { return nil } // the disk outlives each task that opens it

// used is how many bytes of the disk hold data (non-zero chunks).
func (d *memDisk) used() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(len(d.chunks)) * chunkSize
}

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }
