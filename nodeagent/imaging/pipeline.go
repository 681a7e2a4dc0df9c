package imaging

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync/atomic"
	"time"
)

// chunk is one filled buffer on its way to the disk.
type chunk struct {
	buf []byte
	off int64
}

// copier runs one image copy. The calling goroutine fetches and hashes
// (fetch); a second goroutine writes (writeLoop). They exchange buffers
// through two channels: free holds empty buffers, full carries filled
// ones in stream order. With only Buffers buffers in existence, neither
// side can run more than Buffers-1 chunks ahead of the other, and a send
// on full never blocks.
type copier struct {
	w     *Writer
	img   Image
	disk  Disk
	src   Source
	ev    *Evidence
	start time.Time

	bufSize, nbuf int
	free          chan []byte
	full          chan chunk

	// Owned by the fetch side.
	hash    hash.Hash
	hashed  int64 // bytes fed to hash since its last reset
	fetched int64
	attempt atomic.Int32

	// Owned by the write side until run returns.
	highWater int64
	touched   atomic.Bool
	prog      *progress
}

func newCopier(w *Writer, img Image, disk Disk, src Source, ev *Evidence) *copier {
	c := &copier{w: w, img: img, disk: disk, src: src, ev: ev, hash: sha256.New(),
		bufSize: w.bufferSize(), nbuf: w.buffers()}
	c.prog = w.newProgress(PhaseWrite, img.Size, &c.attempt)
	return c
}

// run copies the whole image or fails. A disk error wins over whatever
// the fetch side saw, since the fetch side only saw the cancellation the
// disk error caused.
func (c *copier) run(ctx context.Context) error {
	c.start = time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.free = make(chan []byte, c.nbuf)
	c.full = make(chan chunk, c.nbuf)
	for range c.nbuf {
		c.free <- make([]byte, c.bufSize)
	}
	werr := make(chan error, 1)
	go func() { werr <- c.writeLoop(ctx, cancel) }()
	ferr := c.fetch(ctx)
	close(c.full)
	if err := <-werr; err != nil {
		return err
	}
	return ferr
}

// writeLoop writes chunks in order. After a failure it cancels the fetch
// and keeps draining full so the fetch side never blocks; after the
// context ends it stops writing queued chunks.
func (c *copier) writeLoop(ctx context.Context, cancel context.CancelCauseFunc) error {
	var failed error
	for ch := range c.full {
		if failed != nil {
			continue
		}
		if ctx.Err() != nil {
			failed = context.Cause(ctx)
			continue
		}
		c.touched.Store(true)
		n, err := c.disk.WriteAt(ch.buf, ch.off)
		if err == nil && n < len(ch.buf) {
			err = io.ErrShortWrite // io.WriterAt promises an error with a short count
		}
		if err != nil {
			failed = &DiskError{Target: c.disk.Name(), Op: "write", Offset: ch.off + int64(n), Err: err}
			cancel(failed)
			continue
		}
		end := ch.off + int64(n)
		c.highWater = max(c.highWater, end)
		c.prog.report(c.highWater, int64(n), false)
		c.free <- ch.buf[:cap(ch.buf)]
	}
	return failed
}

// fetch runs source attempts until the image has been read, an error is
// not worth retrying, or attempts run out.
func (c *copier) fetch(ctx context.Context) error {
	var off int64
	maxAttempts := c.w.maxAttempts()
	for n := 1; ; n++ {
		if n > 1 {
			// Resume from the last byte written, not merely read: wait
			// until the disk has taken every chunk already handed over.
			if err := c.drain(ctx); err != nil {
				return err
			}
			if err := sleep(ctx, c.w.backoff(n-1)); err != nil {
				return err
			}
		}
		c.attempt.Store(int32(n))
		c.ev.Attempts = n
		err := c.try(ctx, &off)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		c.ev.AttemptErrors = append(c.ev.AttemptErrors, fmt.Sprintf("attempt %d, offset %d: %v", n, off, err))
		if !retryable(err) || n >= maxAttempts {
			return &SourceError{URL: c.img.SourceURL, Attempts: n, Err: err}
		}
	}
}

// drain waits until every buffer is back in free, i.e. every chunk handed
// to the write side has been written.
func (c *copier) drain(ctx context.Context) error {
	got := make([][]byte, 0, c.nbuf)
	defer func() {
		for _, b := range got {
			c.free <- b
		}
	}()
	for len(got) < c.nbuf {
		select {
		case b := <-c.free:
			got = append(got, b)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// try is one source attempt from *off. It advances *off past every byte
// it hands to the write side, and rewinds it (and the hash) to 0 when the
// source could only start over.
//
// A watchdog ends the attempt with ErrStalled when the source delivers
// nothing for StallTimeout (a half-dead TCP connection would otherwise
// hang until the caller's deadline). It is paused while the fetch side
// waits for the disk, so a slow disk never looks like a stalled source.
func (c *copier) try(ctx context.Context, off *int64) (err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := c.w.stallTimeout()
	watchdog := time.AfterFunc(stall, func() { cancel(ErrStalled) })
	defer watchdog.Stop()
	defer func() {
		if err != nil && ctx.Err() == nil && context.Cause(actx) == ErrStalled {
			err = fmt.Errorf("%w: no data for %v at offset %d", ErrStalled, stall, *off)
		}
	}()

	r, start, err := c.src.Open(actx, *off)
	if err != nil {
		return err
	}
	defer r.Close()
	switch {
	case start == 0 && *off > 0:
		c.hash.Reset()
		c.hashed, *off = 0, 0
		c.ev.Restarts++
	case start != *off:
		return permanent(fmt.Errorf("imaging: source opened at %d when asked for %d", start, *off))
	case start > 0:
		c.ev.Resumes++
	}
	src := &watchedReader{r: r, watchdog: watchdog, stall: stall}
	size := c.img.Size
	for *off < size {
		var buf []byte
		watchdog.Stop()
		select {
		case buf = <-c.free:
		case <-actx.Done():
			return context.Cause(actx)
		}
		watchdog.Reset(stall)
		n, err := readFull(src, buf[:min(int64(len(buf)), size-*off)])
		c.fetched += int64(n)
		if n > 0 {
			c.hash.Write(buf[:n])
			c.hashed += int64(n)
			c.full <- chunk{buf: buf[:n], off: *off}
			*off += int64(n)
		} else {
			c.free <- buf
		}
		if err == io.EOF {
			// A clean end of body: the source says this is all there
			// is (a dropped connection shows as ErrUnexpectedEOF).
			return &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprint(size), Got: fmt.Sprintf("%d (source ended)", *off)}
		}
		if err != nil {
			return err
		}
	}
	// The image must end exactly at Size; one more byte means the source
	// holds something else than the catalog describes.
	var one [1]byte
	if n, _ := io.ReadFull(src, one[:]); n > 0 {
		return &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprint(size), Got: "more bytes (source continues past Size)"}
	}
	return nil
}

// watchedReader re-arms the stall watchdog whenever data arrives.
type watchedReader struct {
	r        io.Reader
	watchdog *time.Timer
	stall    time.Duration
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.watchdog.Reset(w.stall)
	}
	return n, err
}

// readFull is io.ReadFull without its error rewriting: a clean io.EOF
// before buf is full stays io.EOF, so a short file and a cut connection
// can be told apart.
func readFull(r io.Reader, buf []byte) (int, error) {
	n, empty := 0, 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			if err == io.EOF && n == len(buf) {
				return n, nil
			}
			return n, err
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}
