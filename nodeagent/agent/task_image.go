package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// runImage streams the task's image onto Config.Disk. The imaging package
// does the verifying (size, sha256 while streaming, read-back); the agent
// adds progress reports and turns the outcome into a verdict whose
// evidence is imaging.Evidence. A failure is ok=false without quarantine:
// the disk is dirty, and the server keeps the node out of service until a
// later image or erase succeeds.
func (a *Agent) runImage(ctx context.Context, id string, t *pb.ImageTask) *savedResult {
	pi := t.GetImage()
	if pi == nil {
		return result(errors.New("image task without an image"), nil)
	}
	if pi.GetSize() > math.MaxInt64 {
		return result(fmt.Errorf("image size %d out of range", pi.GetSize()), nil)
	}
	img := imaging.Image{Name: pi.GetName(), Version: pi.GetVersion(), Size: int64(pi.GetSize()), SHA256: pi.GetSha256(), SourceURL: pi.GetSourceUrl()}
	if err := img.Validate(); err != nil {
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
	if c, ok := disk.(io.Closer); ok {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close disk: %w", cerr)
		}
	}
	return result(err, ev)
}
