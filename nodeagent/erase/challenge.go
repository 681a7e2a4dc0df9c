package erase

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/ibex-hpc/ibex/model"
)

// Challenge is the leader's check of an erase (model.Challenge): after
// erasing, the eraser reads back exactly the offsets the draws pick on
// this disk and reports each sample's digest bound to the nonce, so the
// server can check the answer against what it asked. Pattern is what an
// overwrite writes (nil: zeros): the leader's, not the agent's choice.
type Challenge struct {
	Nonce      string
	Draws      []uint64
	SampleSize int
	Pattern    []byte
}

// answer reads the challenge's offsets of an erased device and returns
// the answer. pattern is what the method left (nil when the server cannot
// predict it: a drive's own secure erase); a sample that does not hold it
// fails the erase here too, with a *VerifyError.
func answer(ctx context.Context, dev Device, d Disk, size, erased int64, method Method, pattern []byte, c *Challenge) (*model.EraseAnswer, error) {
	path := d.Path
	offs, ss := model.EraseOffsets(size, c.SampleSize, c.Draws)
	a := &model.EraseAnswer{Method: string(method), Kind: string(d.Kind), DiskSize: size, BytesErased: erased, SampleSize: ss}
	if pattern != nil {
		a.Pattern = hex.EncodeToString(pattern)
	}
	if cd, ok := dev.(cacheDropper); ok {
		if err := cd.DropCache(); err != nil {
			return a, &DeviceError{Path: path, Op: "drop cache", Err: err}
		}
	}
	buf := make([]byte, ss)
	var first *VerifyError
	bad := 0
	for _, off := range offs {
		if err := ctx.Err(); err != nil {
			return a, err
		}
		n, err := dev.ReadAt(buf, off)
		if n == len(buf) && err == io.EOF {
			err = nil
		}
		if err == nil && n < len(buf) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return a, &DeviceError{Path: path, Op: "read challenged sample", Offset: off + int64(n), Err: err}
		}
		a.Samples = append(a.Samples, model.SampleAnswer{Offset: off, SHA256: model.SampleDigest(c.Nonce, off, buf)})
		if pattern == nil {
			continue
		}
		for i, b := range buf {
			if want := pattern[(off+int64(i))%int64(len(pattern))]; b != want {
				bad++
				if first == nil {
					first = &VerifyError{Path: path, Offset: off + int64(i), Want: fmt.Sprintf("%#02x", want), Got: fmt.Sprintf("%#02x", b)}
				}
				break
			}
		}
	}
	if first != nil {
		first.BadSamples, first.Checked = bad, len(offs)
		return a, first
	}
	return a, nil
}

// challengePattern is what an overwrite under challenge c writes.
func challengePattern(c *Challenge) []byte {
	if len(c.Pattern) == 0 || bytes.Equal(c.Pattern, []byte{0}) {
		return []byte{0}
	}
	return c.Pattern
}
