package imaging

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

// Source produces an image's bytes. Write calls Open once per attempt,
// sequentially, and closes each reader before the next Open.
type Source interface {
	// Open returns a reader positioned at start. start is off when the
	// source could resume there, or 0 when it could only start over (an
	// HTTP server that ignored the Range request); Write then rewinds its
	// hash and rewrites from the beginning.
	//
	// Errors that retrying cannot fix (a 404, a size that contradicts the
	// catalog) must satisfy errors.Is(err, ErrSizeMismatch) or be an
	// *HTTPStatusError with Temporary() false; anything else is retried.
	Open(ctx context.Context, off int64) (r io.ReadCloser, start int64, err error)
}

// NewSource picks the Source for img.SourceURL. client may be nil for
// http.DefaultClient. img should already be valid.
func NewSource(img Image, client *http.Client) (Source, error) {
	u, err := url.Parse(img.SourceURL)
	if err != nil {
		return nil, fmt.Errorf("imaging: source URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		return &HTTPSource{Client: client, URL: img.SourceURL, Size: img.Size}, nil
	case "file":
		return &FileSource{Path: u.Path, Size: img.Size}, nil
	}
	return nil, fmt.Errorf("imaging: scheme %q not supported", u.Scheme)
}

// FileSource reads an image from a local file (a file:// catalog entry, a
// staged copy, a benchmark fixture).
type FileSource struct {
	Path string
	Size int64 // expected size; the file must be exactly this long
}

// Open opens the file at off. A file whose length differs from Size is a
// permanent ErrSizeMismatch: re-reading it will not change its length.
func (s *FileSource) Open(_ context.Context, off int64) (io.ReadCloser, int64, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return nil, 0, permanent(fmt.Errorf("imaging: open source: %w", err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if fi.Size() != s.Size {
		f.Close()
		return nil, 0, &MismatchError{Err: ErrSizeMismatch, Want: fmt.Sprint(s.Size), Got: fmt.Sprintf("%d (file length of %s)", fi.Size(), s.Path)}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, off, nil
}
