package erase

import (
	"bytes"
	"context"
	"encoding/hex"

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
	// The read-back is verify's (cache dropped, every sample read, every
	// bad one counted); each sample's digest is recorded on the way.
	var match sampleCheck
	if pattern != nil {
		match = patternCheck(pattern)
	}
	_, err := verify(ctx, dev, path, offs, ss, func(off int64, got []byte) (int, string, string) {
		a.Samples = append(a.Samples, model.SampleAnswer{Offset: off, SHA256: model.SampleDigest(c.Nonce, off, got)})
		if match == nil {
			return -1, "", ""
		}
		return match(off, got)
	})
	return a, err
}

// challengePattern is what an overwrite under challenge c writes.
func challengePattern(c *Challenge) []byte {
	if len(c.Pattern) == 0 || bytes.Equal(c.Pattern, []byte{0}) {
		return []byte{0}
	}
	return c.Pattern
}
