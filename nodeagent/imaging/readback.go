package imaging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"

	"github.com/ibex-hpc/ibex/model"
)

// readBack re-reads the first size bytes of disk and returns their sha256.
// It drops the disk's page cache first (when the disk can), otherwise the
// check would read back the very pages the write just filled and could
// not see a write the device lost. Reading and hashing overlap the same
// way as in the copy: one goroutine reads the next buffer while this one
// hashes the previous.
//
// With bs > 0 it also returns the hash of every bs-byte block (the
// catalog's block list, see model.BlockHasher).
func readBack(ctx context.Context, disk Disk, size int64, bufSize int, prog *progress, bs int64) (string, []string, error) {
	if cd, ok := disk.(CacheDropper); ok {
		if err := cd.DropCache(); err != nil {
			return "", nil, &DiskError{Target: disk.Name(), Op: "drop cache", Err: err}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type block struct {
		buf []byte
		off int64
		err error
	}
	const nbuf = 2
	free := make(chan []byte, nbuf)
	full := make(chan block, nbuf)
	for range nbuf {
		free <- make([]byte, bufSize)
	}
	go func() {
		defer close(full)
		for off := int64(0); off < size; {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			want := min(int64(len(buf)), size-off)
			n, err := disk.ReadAt(buf[:want], off)
			if int64(n) == want {
				err = nil // io.ReaderAt may return io.EOF with a full read at the end
			} else if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the target is shorter than the image
			}
			if err != nil {
				full <- block{off: off + int64(n), err: err}
				return
			}
			full <- block{buf: buf[:n], off: off}
			off += int64(n)
		}
	}()

	var h io.Writer = sha256.New()
	var bh *model.BlockHasher
	if bs > 0 {
		bh = model.NewBlockHasher(bs)
		h = bh
	}
	var hashed int64
	for b := range full {
		if b.err != nil {
			return "", nil, &DiskError{Target: disk.Name(), Op: "read", Offset: b.off, Err: b.err}
		}
		h.Write(b.buf)
		hashed += int64(len(b.buf))
		done := b.off + int64(len(b.buf))
		prog.report(done, int64(len(b.buf)), done == size)
		free <- b.buf[:cap(b.buf)]
	}
	// The reader stops early only when ctx ends; never hash a prefix.
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	if hashed != size {
		return "", nil, &DiskError{Target: disk.Name(), Op: "read", Offset: hashed, Err: io.ErrUnexpectedEOF}
	}
	if bh != nil {
		sum, _ := bh.Sum()
		return sum, bh.Blocks, nil
	}
	return hex.EncodeToString(h.(hash.Hash).Sum(nil)), nil, nil
}
