package imaging

import (
	"errors"
	"fmt"
)

// The verification failures. Each comes wrapped in a *MismatchError that
// says what was expected and what was seen; test with errors.Is. After any
// of them the target holds bytes that are not the image: treat it as dirty.
var (
	// ErrSizeMismatch: the source delivered (or announced) a different
	// number of bytes than the catalog entry's Size, or the target cannot
	// hold the image.
	ErrSizeMismatch = errors.New("imaging: size mismatch")
	// ErrDigestMismatch: the bytes streamed to the target do not hash to
	// the catalog entry's SHA256.
	ErrDigestMismatch = errors.New("imaging: sha256 mismatch")
	// ErrReadBackMismatch: the streamed bytes were right, but re-reading
	// the target gives a different digest (lost or corrupted writes).
	ErrReadBackMismatch = errors.New("imaging: read-back sha256 mismatch")
	// ErrBlockMismatch: a block of the target does not hash to the
	// catalog's block list (the list and the image disagree, or the
	// disk changed the block).
	ErrBlockMismatch = errors.New("imaging: block sha256 mismatch")
)

// ErrStalled: the source sent nothing for Writer.StallTimeout. The
// attempt is abandoned and retried like a dropped connection.
var ErrStalled = errors.New("imaging: source stalled")

// MismatchError carries the expected and observed values of a failed
// check. Err is one of the sentinels above.
type MismatchError struct {
	Err       error
	Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%v: want %s, got %s", e.Err, e.Want, e.Got)
}

func (e *MismatchError) Unwrap() error { return e.Err }

// DiskError is a failed operation on the target. Offset is the first byte
// that could not be written or read (for Op "sync", the image size). The
// disk is dirty: the bytes before Offset may be a partial image.
type DiskError struct {
	Target string
	Op     string // "write", "read", "sync"
	Offset int64
	Err    error
}

func (e *DiskError) Error() string {
	return fmt.Sprintf("imaging: %s %s at offset %d: %v", e.Op, e.Target, e.Offset, e.Err)
}

func (e *DiskError) Unwrap() error { return e.Err }

// SourceError is a failed fetch that survived the retries, or could not be
// retried. Attempts counts every try, the failing one included.
type SourceError struct {
	URL      string
	Attempts int
	Err      error
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("imaging: fetch %s: giving up after %d attempt(s): %v", e.URL, e.Attempts, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// HTTPStatusError is a response the source cannot use. 5xx, 408 and 429
// are retried; other codes (404, 403, ...) will not change on retry.
type HTTPStatusError struct {
	Code   int
	Status string
}

func (e *HTTPStatusError) Error() string { return "imaging: HTTP " + e.Status }

// Temporary reports whether a retry could succeed.
func (e *HTTPStatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == 408 || e.Code == 429
}

// permanentError marks a source error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// retryable decides whether the fetch loop may try again after err.
func retryable(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return false
	}
	var h *HTTPStatusError
	if errors.As(err, &h) {
		return h.Temporary()
	}
	return !errors.Is(err, ErrSizeMismatch) && !errors.Is(err, ErrDigestMismatch)
}
