package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// runImage streams the task's image onto Config.Disk. The imaging package
// does the verifying (size, sha256 while streaming, read-back); the agent
// adds progress reports and turns the outcome into a verdict whose
// evidence is imaging.Evidence. A failure is ok=false without quarantine:
// the disk is dirty, and the server keeps the node out of service until a
// later image or erase succeeds.
//
// The image's block hash list is checked during the read-back; with the
// leader's challenge the agent then reads the challenged blocks again and
// answers with their hashes (model.CheckImageBlocks).
func (a *Agent) runImage(ctx context.Context, id string, t *pb.ImageTask, ch *model.Challenge) *savedResult {
	pi := t.GetImage()
	if pi == nil {
		return result(errors.New("image task without an image"), nil)
	}
	img, err := imageOf(pi)
	if err != nil {
		return result(err, nil)
	}
	disk, err := a.OpenDisk(a.cfg.Disk)
	if err != nil {
		return result(fmt.Errorf("open disk %s: %w", a.cfg.Disk, err), nil)
	}
	w := *a.Imager // a copy per task: Progress is per task
	w.ProgressInterval = a.cfg.ProgressInterval
	total := uint64(img.Size)
	if !w.SkipReadBack {
		total *= 2
	}
	prog := a.newProgress(id)
	// Done counts bytes written plus bytes re-read, so the bar moves
	// forward through both phases instead of restarting at read-back.
	w.Progress = func(p imaging.Progress) {
		done := uint64(p.Done)
		if p.Phase == imaging.PhaseReadBack {
			done += uint64(img.Size)
		}
		prog.report(done, total)
	}
	ev, err := w.Write(ctx, img, disk)
	var ans *model.Answer
	if err == nil && ch != nil {
		var blocks []model.BlockAnswer
		blocks, _, err = imaging.ReadBlocks(ctx, disk, img, ch.Blocks)
		ans = &model.Answer{Nonce: ch.Nonce, Image: &model.ImageAnswer{Image: img.Ref(), BlockSize: img.BlockSize, Blocks: blocks}}
		if err != nil {
			err = fmt.Errorf("read the challenged blocks: %w", err)
		}
	}
	if c, ok := disk.(io.Closer); ok {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close disk: %w", cerr)
		}
	}
	r := result(err, ev)
	if r.OK {
		r = withAnswer(r, ans)
	}
	return r
}

// imageOf turns the wire image into a validated catalog image, block
// list included when the server sent one.
func imageOf(pi *pb.Image) (imaging.Image, error) {
	if pi.GetSize() > math.MaxInt64 || pi.GetBlockSize() > math.MaxInt64 {
		return imaging.Image{}, fmt.Errorf("image size %d or block size %d out of range", pi.GetSize(), pi.GetBlockSize())
	}
	img := imaging.Image{Name: pi.GetName(), Version: pi.GetVersion(), Size: int64(pi.GetSize()), SHA256: pi.GetSha256(), SourceURL: pi.GetSourceUrl(),
		BlockSize: int64(pi.GetBlockSize()), Blocks: pi.GetBlockSha256()}
	if err := img.Validate(); err != nil {
		return img, err
	}
	if img.BlockSize != 0 || len(img.Blocks) > 0 {
		if err := img.ValidateBlocks(); err != nil {
			return img, err
		}
	}
	return img, nil
}
