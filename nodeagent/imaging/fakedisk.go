package imaging

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// FakeDisk is an in-memory Disk for tests that fails on purpose. Each
// fault reproduces something real targets do: a medium error at one
// sector (EIO), a driver that returns a short count without an error, a
// slow device, a controller that acknowledges writes it never made, a bit
// flip between write and read-back, a failing flush. FakeDisk is safe for
// concurrent use.
type FakeDisk struct {
	mu       sync.Mutex
	name     string
	data     []byte
	capacity int64

	writeErrAt   int64
	writeErr     error
	shortAt      int64
	readErrAt    int64
	readErr      error
	corruptAt    int64
	ignoreWrites bool
	delay        time.Duration
	syncErr      error

	writes, syncs, drops int
}

var _ interface {
	Disk
	CacheDropper
} = (*FakeDisk)(nil)

// NewFakeDisk returns an empty disk. capacity < 0 makes it grow like a
// file; otherwise writes past capacity fail with ENOSPC.
func NewFakeDisk(name string, capacity int64) *FakeDisk {
	return &FakeDisk{name: name, capacity: capacity, writeErrAt: -1, shortAt: -1, readErrAt: -1, corruptAt: -1}
}

// FailWriteAt makes a write that covers off store the bytes before off
// and then fail with err (EIO if nil), like a bad sector.
func (d *FakeDisk) FailWriteAt(off int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		err = syscall.EIO
	}
	d.writeErrAt, d.writeErr = off, err
}

// ShortWriteAt makes a write that covers off stop there and return the
// short count with a nil error, breaking the io.WriterAt contract the way
// a buggy driver or wrapper might.
func (d *FakeDisk) ShortWriteAt(off int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shortAt = off
}

// FailReadAt makes a read that covers off fail with err (EIO if nil).
func (d *FakeDisk) FailReadAt(off int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		err = syscall.EIO
	}
	d.readErrAt, d.readErr = off, err
}

// CorruptAt stores the byte at off inverted, whatever was written: a
// silent corruption only a read-back can see.
func (d *FakeDisk) CorruptAt(off int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.corruptAt = off
}

// IgnoreWrites makes every later write report success and store nothing.
func (d *FakeDisk) IgnoreWrites() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ignoreWrites = true
}

// SetWriteDelay makes every write take at least delay, like a slow disk.
// The delay is not cancellable, as a real write in flight is not.
func (d *FakeDisk) SetWriteDelay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
}

// FailSync makes Sync return err.
func (d *FakeDisk) FailSync(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncErr = err
}

// WriteAt stores p at off, subject to the configured faults.
func (d *FakeDisk) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	delay := d.delay
	d.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes++
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: d.name, Err: syscall.EINVAL}
	}
	end := off + int64(len(p))
	n, err := len(p), error(nil)
	if d.capacity >= 0 && end > d.capacity {
		n, err = int(max(d.capacity-off, 0)), &os.PathError{Op: "write", Path: d.name, Err: syscall.ENOSPC}
	}
	if d.writeErrAt >= off && d.writeErrAt < off+int64(n) {
		n, err = int(d.writeErrAt-off), &os.PathError{Op: "write", Path: d.name, Err: d.writeErr}
	}
	if d.shortAt >= off && d.shortAt < off+int64(n) && err == nil {
		n = int(d.shortAt - off)
	}
	if d.ignoreWrites {
		return n, err
	}
	if need := off + int64(n); need > int64(len(d.data)) {
		d.data = append(d.data, make([]byte, need-int64(len(d.data)))...)
	}
	copy(d.data[off:], p[:n])
	if d.corruptAt >= off && d.corruptAt < off+int64(n) {
		d.data[d.corruptAt] ^= 0xff
	}
	return n, err
}

// ReadAt reads what the disk holds; unwritten bytes of a fixed-capacity
// disk read as zeros.
func (d *FakeDisk) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: d.name, Err: syscall.EINVAL}
	}
	size := int64(len(d.data))
	if d.capacity >= 0 {
		size = d.capacity
	}
	if d.readErrAt >= off && d.readErrAt < off+int64(len(p)) && d.readErrAt < size {
		n := int(d.readErrAt - off)
		d.copyOut(p[:n], off)
		return n, &os.PathError{Op: "read", Path: d.name, Err: d.readErr}
	}
	if off >= size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), size-off))
	d.copyOut(p[:n], off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *FakeDisk) copyOut(p []byte, off int64) {
	clear(p)
	if off < int64(len(d.data)) {
		copy(p, d.data[off:])
	}
}

// Sync counts the flush and returns the FailSync error, if any.
func (d *FakeDisk) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncs++
	return d.syncErr
}

// DropCache only counts calls: there is no cache to drop.
func (d *FakeDisk) DropCache() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drops++
	return nil
}

// Capacity returns the capacity given to NewFakeDisk.
func (d *FakeDisk) Capacity() (int64, error) { return d.capacity, nil }

// Name returns the name given to NewFakeDisk.
func (d *FakeDisk) Name() string { return d.name }

// Bytes returns a copy of what the disk holds.
func (d *FakeDisk) Bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Clone(d.data)
}

// Counts reports how many WriteAt, Sync and DropCache calls were made.
func (d *FakeDisk) Counts() (writes, syncs, drops int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes, d.syncs, d.drops
}

// String describes the disk for test failure messages.
func (d *FakeDisk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("FakeDisk(%s, %d bytes, %d writes, %d syncs)", d.name, len(d.data), d.writes, d.syncs)
}
