package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileStore hands out firmware image files by name (Rule.Image). It is an
// interface so images can come from a local cache, a shared filesystem or
// an HTTP mirror; Pin trusts none of them and checks the digest itself.
type FileStore interface {
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// DirStore serves files from one directory. Names are resolved with
// os.Root, so a policy entry like "../../etc/shadow" cannot leave Dir.
type DirStore struct {
	Dir string
}

// Open opens name inside Dir.
func (s DirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	root, err := os.OpenRoot(s.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(name)
}

// maxImageSize bounds a staged image. ConnectX images are tens of MiB;
// a store that streams more is broken or hostile, and staging it would
// fill the disk.
const maxImageSize = 512 << 20

// stage copies an image from the store into a private temporary file while
// hashing it, and returns the copy's path and digest. Burning the copy,
// never the store's file, means the bytes burned are the bytes hashed even
// if the store's file changes in between. cleanup removes the copy.
func stage(ctx context.Context, store FileStore, name string) (path, digest string, cleanup func(), err error) {
	src, err := store.Open(ctx, name)
	if err != nil {
		return "", "", nil, fmt.Errorf("open image %q: %w", name, err)
	}
	defer src.Close()
	dir, err := os.MkdirTemp("", "ibex-fw-")
	if err != nil {
		return "", "", nil, fmt.Errorf("stage image: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "image.bin")
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("stage image: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), io.LimitReader(src, maxImageSize+1))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxImageSize {
		err = fmt.Errorf("larger than %d bytes", maxImageSize)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("stage image %q: %w", name, err)
	}
	return path, hex.EncodeToString(h.Sum(nil)), cleanup, nil
}
