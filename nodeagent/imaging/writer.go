package imaging

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// Defaults for the zero Writer.
const (
	DefaultBufferSize       = 4 << 20
	DefaultBuffers          = 4
	DefaultMaxAttempts      = 5
	DefaultBackoff          = 250 * time.Millisecond
	DefaultMaxBackoff       = 15 * time.Second
	DefaultProgressInterval = 500 * time.Millisecond
	DefaultStallTimeout     = time.Minute

	// bufferAlign is the granularity buffer sizes are rounded up to, so
	// every write but the image's last starts and ends on a page (and
	// sector) boundary and the page cache never has to read-modify-write
	// a partial page.
	bufferAlign = 64 << 10
)

// Writer streams images onto disks. The zero value is ready to use; a
// Writer holds no per-image state and may be used for several images at
// once (one Write per target).
type Writer struct {
	// Client fetches http(s) sources; nil means http.DefaultClient. Use a
	// client without an overall Timeout: a large image legitimately takes
	// long. Stalls are caught by StallTimeout instead.
	Client *http.Client
	// OpenSource overrides how a source is chosen for an image (nil:
	// NewSource by URL scheme).
	OpenSource func(Image) (Source, error)

	// BufferSize is the size of each pipeline buffer (rounded up to 64
	// KiB) and Buffers how many there are: Buffers*BufferSize bytes are in
	// flight between the source and the disk. Large buffers keep the
	// per-call overhead of reads, writes and hashing negligible.
	BufferSize int
	Buffers    int

	// MaxAttempts bounds the source opens (first try included). Between
	// attempts Write waits Backoff, doubling up to MaxBackoff.
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	// StallTimeout ends an attempt (to be retried) when the source
	// delivers no data for this long; default one minute.
	StallTimeout time.Duration

	// Progress, if set, is called at most every ProgressInterval while
	// writing and while reading back, and once when each phase
	// completes. Calls never overlap; Progress runs on the copy path, so
	// it must return quickly.
	Progress         func(Progress)
	ProgressInterval time.Duration

	// SkipReadBack turns off the read-back check. It is on by default
	// because it is the only check that sees writes the disk acknowledged
	// but did not make; its cost is reported separately in Evidence.
	SkipReadBack bool
}

// Evidence is what Write did and saw. It is returned on failure too, so
// the node's record shows how far the write got.
type Evidence struct {
	Image  Image
	Target string
	// BytesWritten is how far into the target the image reached (the
	// high-water mark of completed writes); Size on success.
	BytesWritten int64
	// BytesFetched counts every byte received from the source, including
	// bytes fetched again after a restart.
	BytesFetched int64
	// SHA256 is the digest of the bytes streamed to the target, computed
	// while writing; ReadBackSHA256 is the digest of the target re-read
	// after the write ("" when read-back was skipped or not reached).
	SHA256         string
	ReadBackSHA256 string
	Started        time.Time
	Finished       time.Time
	// WriteDuration runs from the first source open through fdatasync;
	// ReadBackDuration covers the read-back alone.
	WriteDuration    time.Duration
	ReadBackDuration time.Duration
	// Attempts counts source opens; Resumes those that continued with a
	// verified 206; Restarts those that had to start over at byte 0.
	Attempts int
	Resumes  int
	Restarts int
	// AttemptErrors records why each failed attempt failed.
	AttemptErrors []string `json:",omitempty"`
	// Dirty means the target may hold part of an image or bytes that are
	// not the image: it must not be booted or handed out until it is
	// re-imaged or erased. Dirty is false on success, and on failures that
	// happened before any write.
	Dirty bool
}

// Phase names what a Progress report is about.
type Phase string

// The phases Write reports progress for.
const (
	PhaseWrite    Phase = "write"
	PhaseReadBack Phase = "read-back"
)

// Progress is one progress report.
type Progress struct {
	Phase Phase
	// Done is how far the phase has got, in bytes, and never decreases
	// within a phase: while writing it is the high-water mark of completed
	// writes, so a restart from byte 0 shows as a pause, not a drop.
	Done  int64
	Total int64
	// Rate is bytes per second moved since the previous report, counting
	// rewritten bytes after a restart.
	Rate    float64
	Elapsed time.Duration
	Attempt int
}

// Write streams img onto disk, verifying as it goes:
//
//  1. validate img and check it fits the disk;
//  2. copy through the read/hash → write pipeline, retrying source
//     failures with back-off and resuming at the last byte written;
//  3. fdatasync, then require exactly img.Size bytes and img.SHA256;
//  4. unless SkipReadBack, drop the cache, re-read the target and require
//     the same digest.
//
// Write returns nil only when every step held. Errors are typed: a
// *MismatchError (ErrSizeMismatch, ErrDigestMismatch,
// ErrReadBackMismatch), a *DiskError with the failing offset, a
// *SourceError after retries, the context's error after cancellation, or a
// validation error wrapping ErrInvalidImage. On any error check
// Evidence.Dirty before using the target.
func (w *Writer) Write(ctx context.Context, img Image, disk Disk) (Evidence, error) {
	// The evidence names the image without its block list: that is in
	// the catalog, and evidence goes into the ledger.
	named := img
	named.Blocks = nil
	ev := Evidence{Image: named, Target: disk.Name(), Started: time.Now()}
	err := w.write(ctx, img, disk, &ev)
	ev.Finished = time.Now()
	return ev, err
}

func (w *Writer) write(ctx context.Context, img Image, disk Disk, ev *Evidence) error {
	if err := img.Validate(); err != nil {
		return err
	}
	capacity, err := disk.Capacity()
	if err != nil {
		return &DiskError{Target: disk.Name(), Op: "size", Err: err}
	}
	if capacity >= 0 && img.Size > capacity {
		return &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprintf("at most %d (capacity of %s)", capacity, disk.Name()), Got: fmt.Sprint(img.Size)}
	}
	open := w.OpenSource
	if open == nil {
		open = func(img Image) (Source, error) { return NewSource(img, w.Client) }
	}
	src, err := open(img)
	if err != nil {
		return err
	}

	c := newCopier(w, img, disk, src, ev)
	err = c.run(ctx)
	ev.BytesWritten, ev.BytesFetched = c.highWater, c.fetched
	ev.Dirty = c.touched.Load()
	if err != nil {
		return err
	}
	if err := disk.Sync(); err != nil {
		return &DiskError{Target: disk.Name(), Op: "sync", Offset: img.Size, Err: err}
	}
	ev.WriteDuration = time.Since(c.start)
	ev.SHA256 = hex.EncodeToString(c.hash.Sum(nil))
	if c.hashed != img.Size || c.highWater != img.Size {
		return &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprint(img.Size), Got: fmt.Sprintf("%d streamed, %d written", c.hashed, c.highWater)}
	}
	if ev.SHA256 != img.SHA256 {
		return &MismatchError{Err: ErrDigestMismatch, Want: img.SHA256, Got: ev.SHA256}
	}
	c.prog.report(img.Size, 0, true)
	if w.SkipReadBack {
		ev.Dirty = false
		return nil
	}

	start := time.Now()
	var bs int64
	if img.HasBlocks() {
		bs = img.BlockSize
	}
	sum, blocks, err := readBack(ctx, disk, img.Size, c.bufSize, w.newProgress(PhaseReadBack, img.Size, nil), bs)
	ev.ReadBackDuration = time.Since(start)
	ev.ReadBackSHA256 = sum
	if err != nil {
		return err
	}
	if sum != img.SHA256 {
		return &MismatchError{Err: ErrReadBackMismatch, Want: img.SHA256, Got: sum}
	}
	if err := checkBlocks(img, blocks); err != nil {
		return err
	}
	ev.Dirty = false
	return nil
}

func (w *Writer) bufferSize() int {
	n := w.BufferSize
	if n <= 0 {
		n = DefaultBufferSize
	}
	return (n + bufferAlign - 1) / bufferAlign * bufferAlign
}

func (w *Writer) buffers() int {
	if w.Buffers < 2 {
		if w.Buffers == 0 {
			return DefaultBuffers
		}
		return 2 // one being filled, one being written: the least that overlaps
	}
	return w.Buffers
}

func (w *Writer) stallTimeout() time.Duration {
	if w.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return w.StallTimeout
}

func (w *Writer) maxAttempts() int {
	if w.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return w.MaxAttempts
}

// backoff is the wait before retry n (n >= 1): Backoff·2^(n-1), capped.
func (w *Writer) backoff(n int) time.Duration {
	d, limit := w.Backoff, w.MaxBackoff
	if d <= 0 {
		d = DefaultBackoff
	}
	if limit <= 0 {
		limit = DefaultMaxBackoff
	}
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
