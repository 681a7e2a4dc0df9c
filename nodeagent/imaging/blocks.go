package imaging

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/ibex-hpc/ibex/model"
)

// Block checks: the catalog's block hash list (model.Image.Blocks) is
// checked against the whole target during the read-back after a write,
// and ReadBlocks reads single blocks for the leader's challenges.

// checkBlocks compares the read-back's block hashes with the catalog's.
// A mismatch here, after the whole-image digest matched, means the block
// list itself is wrong: the image cannot be checked block by block, so
// the write fails rather than leave a node no hand-out check can pass.
func checkBlocks(img Image, got []string) error {
	if !img.HasBlocks() {
		return nil
	}
	if len(got) != len(img.Blocks) {
		return &MismatchError{Err: ErrBlockMismatch, Want: fmt.Sprintf("%d blocks", len(img.Blocks)), Got: fmt.Sprintf("%d", len(got))}
	}
	for i, h := range got {
		if h != img.Blocks[i] {
			return &MismatchError{Err: ErrBlockMismatch, Want: fmt.Sprintf("block %d %s", i, img.Blocks[i]), Got: h}
		}
	}
	return nil
}

// MaxReadBlocks bounds one ReadBlocks call (model.MaxChallengeBlocks).
const MaxReadBlocks = model.MaxChallengeBlocks

// ReadBlocks reads the given blocks of img from disk, after dropping its
// cache when it can (a check must see the device, not the page cache),
// and returns each block's SHA-256 with the bytes read.
func ReadBlocks(ctx context.Context, disk io.ReaderAt, img Image, indices []int) ([]model.BlockAnswer, int64, error) {
	if !img.HasBlocks() {
		return nil, 0, fmt.Errorf("image %s has no block hash list", img.Ref())
	}
	if len(indices) > MaxReadBlocks {
		return nil, 0, fmt.Errorf("%d blocks asked, at most %d", len(indices), MaxReadBlocks)
	}
	if cd, ok := disk.(CacheDropper); ok {
		if err := cd.DropCache(); err != nil {
			return nil, 0, fmt.Errorf("drop cache: %w", err)
		}
	}
	n := model.ImageBlockCount(img.Size, img.BlockSize)
	buf := make([]byte, img.BlockSize)
	var read int64
	out := make([]model.BlockAnswer, 0, len(indices))
	for _, i := range indices {
		if err := ctx.Err(); err != nil {
			return nil, read, err
		}
		if i < 0 || i >= n {
			return nil, read, fmt.Errorf("block %d: the image has %d", i, n)
		}
		off := int64(i) * img.BlockSize
		want := min(img.BlockSize, img.Size-off)
		got, err := disk.ReadAt(buf[:want], off)
		if int64(got) == want {
			err = nil
		} else if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		read += int64(got)
		if err != nil {
			return nil, read, fmt.Errorf("read block %d at offset %d: %w", i, off, err)
		}
		sum := sha256.Sum256(buf[:want])
		out = append(out, model.BlockAnswer{Index: i, SHA256: hex.EncodeToString(sum[:])})
	}
	return out, read, nil
}
