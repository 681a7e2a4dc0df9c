package erase

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// FakeDevice is an in-memory Device that fails on purpose. IgnoreWrites
// is the important one: a device (or a controller cache that loses power)
// that acknowledges writes without making them, which only a read-back
// can catch.
type FakeDevice struct {
	mu   sync.Mutex
	name string
	data []byte

	ignoreWrites bool
	writeErrAt   int64
	syncErr      error
	closed       bool
}

var _ Device = (*FakeDevice)(nil)

// NewFakeDevice returns a device holding a copy of content.
func NewFakeDevice(name string, content []byte) *FakeDevice {
	return &FakeDevice{name: name, data: bytes.Clone(content), writeErrAt: -1}
}

// IgnoreWrites makes writes report success and change nothing.
func (d *FakeDevice) IgnoreWrites() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ignoreWrites = true
}

// FailWriteAt makes the write covering off fail there with EIO.
func (d *FakeDevice) FailWriteAt(off int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writeErrAt = off
}

// FailSync makes Sync return err.
func (d *FakeDevice) FailSync(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncErr = err
}

// Fill sets every byte to b, as a zeroing command would (a fake runner
// uses it to give a command its effect).
func (d *FakeDevice) Fill(b byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.data) == 0 {
		return
	}
	d.data[0] = b
	for n := 1; n < len(d.data); n *= 2 {
		copy(d.data[n:], d.data[:n])
	}
}

// Bytes returns a copy of the content.
func (d *FakeDevice) Bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return bytes.Clone(d.data)
}

// Closed reports whether Close was called.
func (d *FakeDevice) Closed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// WriteAt writes within the fixed size, subject to the faults.
func (d *FakeDevice) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 || off > int64(len(d.data)) {
		return 0, &os.PathError{Op: "write", Path: d.name, Err: syscall.EINVAL}
	}
	n, err := len(p), error(nil)
	if end := off + int64(n); end > int64(len(d.data)) {
		n, err = len(d.data)-int(off), &os.PathError{Op: "write", Path: d.name, Err: syscall.ENOSPC}
	}
	if d.writeErrAt >= off && d.writeErrAt < off+int64(n) {
		n, err = int(d.writeErrAt-off), &os.PathError{Op: "write", Path: d.name, Err: syscall.EIO}
	}
	if !d.ignoreWrites {
		copy(d.data[off:], p[:n])
	}
	return n, err
}

// ReadAt reads within the fixed size.
func (d *FakeDevice) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: d.name, Err: syscall.EINVAL}
	}
	if off >= int64(len(d.data)) {
		return 0, io.EOF
	}
	n := copy(p, d.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Sync returns the FailSync error.
func (d *FakeDevice) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncErr
}

// Size is the content length.
func (d *FakeDevice) Size() (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(len(d.data)), nil
}

// Close marks the device closed; it stays readable for assertions.
func (d *FakeDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

// Fake is an Eraser double for tests of code that schedules erases (the
// hygiene step). It records calls and fails on demand. Safe for
// concurrent use.
type Fake struct {
	mu       sync.Mutex
	failures []error
	calls    []Disk
}

var _ Eraser = (*Fake)(nil)

// FailNext queues results for the next calls: a non-nil entry makes that
// call fail with it, a nil entry lets that call succeed.
func (f *Fake) FailNext(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, errs...)
}

// Calls returns the disks erased so far, oldest first.
func (f *Fake) Calls() []Disk {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Disk(nil), f.calls...)
}

// Erase records d and returns plausible evidence, or the queued failure.
func (f *Fake) Erase(ctx context.Context, d Disk) (Evidence, error) {
	now := time.Now()
	ev := Evidence{Disk: d, Method: MethodFake, Started: now, Finished: now}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, d)
	if err := ctx.Err(); err != nil {
		return ev, err
	}
	if len(f.failures) > 0 {
		err := f.failures[0]
		f.failures = f.failures[1:]
		if err != nil {
			return ev, err
		}
	}
	ev.Bytes = d.Size
	return ev, nil
}
