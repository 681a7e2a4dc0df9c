package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Block hash lists of catalog images: fixed-size blocks, each hashed on
// its own, so a check can read a few random blocks of a disk and compare
// them with the catalog instead of re-reading the whole image.

// Bounds of an image's block list. The block size grows with the image
// so that the list stays at most MaxImageBlocks long (about 270 KB of
// replicated state at worst).
const (
	MinImageBlockSize = 1 << 20
	MaxImageBlockSize = 1 << 30
	MaxImageBlocks    = 4096
)

// ImageBlockSize is the block size for an image of size bytes: 1 MiB, or
// the smallest power of two that keeps the list within MaxImageBlocks.
func ImageBlockSize(size int64) int64 {
	bs := int64(MinImageBlockSize)
	for bs < MaxImageBlockSize && (size+bs-1)/bs > MaxImageBlocks {
		bs *= 2
	}
	return bs
}

// ImageBlockCount is how many blocks of bs bytes an image of size bytes has.
func ImageBlockCount(size, bs int64) int {
	if size <= 0 || bs <= 0 {
		return 0
	}
	return int((size + bs - 1) / bs)
}

// HasBlocks reports whether the image carries a block hash list.
func (i Image) HasBlocks() bool { return i.BlockSize > 0 && len(i.Blocks) > 0 }

// ValidateBlocks checks the block list's shape: a power-of-two block size
// within bounds and one 64-hex-digit hash per block.
func (i Image) ValidateBlocks() error {
	bs := i.BlockSize
	if bs < 4096 || bs > MaxImageBlockSize || bs&(bs-1) != 0 {
		return fmt.Errorf("%w %q: block size %d, want a power of two in 4096..%d", ErrInvalidImage, i.String(), bs, MaxImageBlockSize)
	}
	if want := ImageBlockCount(i.Size, bs); len(i.Blocks) != want {
		return fmt.Errorf("%w %q: %d block hashes, want %d for %d bytes in %d-byte blocks", ErrInvalidImage, i.String(), len(i.Blocks), want, i.Size, bs)
	}
	if len(i.Blocks) > MaxImageBlocks {
		return fmt.Errorf("%w %q: %d block hashes, at most %d", ErrInvalidImage, i.String(), len(i.Blocks), MaxImageBlocks)
	}
	for n, h := range i.Blocks {
		if err := checkSHA256(h); err != nil {
			return fmt.Errorf("%w %q: block %d: %w", ErrInvalidImage, i.String(), n, err)
		}
	}
	return nil
}

// BlockHasher computes an image's SHA-256 and its block list in one pass
// over the bytes, in order: write the image to it.
type BlockHasher struct {
	BlockSize int64
	whole     hash.Hash
	block     hash.Hash
	inBlock   int64
	size      int64
	Blocks    []string
}

// NewBlockHasher hashes in blocks of bs bytes.
func NewBlockHasher(bs int64) *BlockHasher {
	return &BlockHasher{BlockSize: bs, whole: sha256.New(), block: sha256.New()}
}

// Write implements io.Writer.
func (h *BlockHasher) Write(p []byte) (int, error) {
	n := len(p)
	h.whole.Write(p)
	h.size += int64(n)
	for len(p) > 0 {
		k := min(int64(len(p)), h.BlockSize-h.inBlock)
		h.block.Write(p[:k])
		h.inBlock += k
		p = p[k:]
		if h.inBlock == h.BlockSize {
			h.endBlock()
		}
	}
	return n, nil
}

func (h *BlockHasher) endBlock() {
	h.Blocks = append(h.Blocks, hex.EncodeToString(h.block.Sum(nil)))
	h.block.Reset()
	h.inBlock = 0
}

// Sum finishes: the whole image's SHA-256 and size, with Blocks complete.
func (h *BlockHasher) Sum() (sha string, size int64) {
	if h.inBlock > 0 {
		h.endBlock()
	}
	return hex.EncodeToString(h.whole.Sum(nil)), h.size
}

// HashImage reads r to the end and returns its size, SHA-256 and block
// list in blocks of ImageBlockSize(expected size); maxSize bounds the read.
func HashImage(r io.Reader, expected, maxSize int64) (size int64, sha string, bs int64, blocks []string, err error) {
	bs = ImageBlockSize(expected)
	h := NewBlockHasher(bs)
	n, err := io.Copy(h, io.LimitReader(r, maxSize+1))
	if err != nil {
		return 0, "", 0, nil, err
	}
	if n > maxSize {
		return 0, "", 0, nil, errors.New("image larger than allowed")
	}
	sha, size = h.Sum()
	return size, sha, bs, h.Blocks, nil
}
