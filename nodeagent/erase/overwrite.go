package erase

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"
)

// DefaultBlockSize is Overwrite's write size: large enough that syscall
// overhead does not matter, small enough to keep cancellation prompt.
const DefaultBlockSize = 4 << 20

// Overwrite erases by writing a pattern over every byte of the target,
// then verifies by reading back samples. It is the Eraser for file-backed
// (simulated) nodes and tests, and is correct on any block device, though
// for flash it neither reaches over-provisioned cells nor is fast; use
// Block there.
type Overwrite struct {
	// Pattern is repeated from offset 0; empty means zeros. A non-zero
	// pattern distinguishes an erased disk from a blank one.
	Pattern []byte
	// BlockSize is the write size (default 4 MiB).
	BlockSize int
	// Samples random samples of SampleSize bytes are read back besides the
	// first and last blocks (defaults 64 and 4096). Seed 0 draws a fresh
	// seed; either way it is recorded.
	Samples    int
	SampleSize int
	Seed       uint64
	// Open opens the target; nil means OpenDevice.
	Open func(path string) (Device, error)
}

var _ Eraser = (*Overwrite)(nil)

// Erase overwrites d and verifies it. It returns a *DeviceError for I/O
// failures (with the offset) and a *VerifyError when a sample does not
// hold the pattern, e.g. because the device dropped the writes.
func (o *Overwrite) Erase(ctx context.Context, d Disk) (Evidence, error) {
	ev := Evidence{Disk: d, Method: MethodOverwrite, Started: time.Now()}
	err := o.erase(ctx, d, &ev)
	ev.Finished = time.Now()
	return ev, err
}

func (o *Overwrite) erase(ctx context.Context, d Disk, ev *Evidence) error {
	pattern := o.Pattern
	if d.Challenge != nil {
		pattern = challengePattern(d.Challenge)
	}
	if len(pattern) == 0 {
		pattern = []byte{0}
	}
	ev.Pattern = hex.EncodeToString(pattern)
	open := o.Open
	if open == nil {
		open = func(p string) (Device, error) { return OpenDevice(p) }
	}
	dev, err := open(d.Path)
	if err != nil {
		return err
	}
	defer dev.Close()
	size, err := dev.Size()
	if err != nil {
		return &DeviceError{Path: d.Path, Op: "size", Err: err}
	}
	if size <= 0 || d.Size > 0 && d.Size != size {
		return fmt.Errorf("erase: %s is %d bytes, inventory says %d", d.Path, size, d.Size)
	}

	start := time.Now()
	if err := overwrite(ctx, dev, d.Path, size, pattern, o.BlockSize, &ev.Bytes); err != nil {
		return err
	}
	if err := dev.Sync(); err != nil {
		return &DeviceError{Path: d.Path, Op: "sync", Offset: size, Err: err}
	}
	ev.EraseDuration = time.Since(start)

	start = time.Now()
	s := sampling{Samples: o.Samples, SampleSize: o.SampleSize, Seed: o.Seed}.withDefaults()
	offs, sampleSize := s.offsets(size)
	ev.Seed, ev.SampleSize, ev.SampleOffsets = s.Seed, sampleSize, offs
	ev.SamplesChecked, err = verify(ctx, dev, d.Path, offs, sampleSize, patternCheck(pattern))
	if err == nil && d.Challenge != nil {
		ev.Answer, err = answer(ctx, dev, d, size, ev.Bytes, MethodOverwrite, pattern, d.Challenge)
	}
	ev.VerifyDuration = time.Since(start)
	return err
}

// overwrite writes pattern (phase 0 at offset 0) over [0, size). The
// buffer length is a multiple of the pattern length, so every block starts
// in phase.
func overwrite(ctx context.Context, dev Device, path string, size int64, pattern []byte, blockSize int, done *int64) error {
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	reps := max(1, (blockSize+len(pattern)-1)/len(pattern))
	buf := bytes.Repeat(pattern, reps)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := buf[:min(int64(len(buf)), size-off)]
		n, err := dev.WriteAt(p, off)
		if err == nil && n < len(p) {
			err = fmt.Errorf("short write: %d of %d bytes", n, len(p))
		}
		off += int64(n)
		*done = off
		if err != nil {
			return &DeviceError{Path: path, Op: "write", Offset: off, Err: err}
		}
	}
	return nil
}
