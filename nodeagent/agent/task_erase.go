package agent

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// runErase erases Config.Disk with the Eraser; the evidence is the
// eraser's (method, bytes, sample offsets read back). Like imaging, a
// failure is ok=false and the server keeps the node out of service.
//
// With the leader's challenge it overwrites with the leader's pattern and
// reads back exactly the challenged offsets; the answer goes to the
// server, which checks it (model.CheckErase).
func (a *Agent) runErase(ctx context.Context, _ string, _ *pb.EraseTask, ch *model.Challenge) *savedResult {
	d := erase.Disk{Path: a.cfg.Disk, Kind: erase.Kind(a.cfg.DiskKind)}
	if ch != nil {
		pattern, err := hex.DecodeString(ch.Pattern)
		if err != nil {
			return result(fmt.Errorf("challenge pattern: %w", err), nil)
		}
		d.Challenge = &erase.Challenge{Nonce: ch.Nonce, Draws: ch.Draws, SampleSize: ch.SampleSize, Pattern: pattern}
	}
	if d.Kind == "" {
		k, err := diskKind(a.cfg.Disk, a.cfg.SysfsRoot)
		if err != nil {
			return result(fmt.Errorf("%w (set the disk kind explicitly)", err), nil)
		}
		d.Kind = k
	}
	ev, err := a.Eraser.Erase(ctx, d)
	r := result(err, ev)
	if ch != nil && r.OK {
		if ev.Answer == nil {
			r.OK, r.Error = false, "the eraser did not answer the leader's challenge"
			return r
		}
		return withAnswer(r, &model.Answer{Nonce: ch.Nonce, Erase: ev.Answer})
	}
	return r
}

// diskKind says how the disk can be erased: a regular file is a simulated
// disk; a block device is classified by erase.DetectKind from sysfs (by
// its resolved name, so /dev/disk/by-id links work).
func diskKind(path, sysfsRoot string) (erase.Kind, error) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().IsRegular() {
		return erase.KindFile, nil
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return erase.DetectKind(sysfsRoot, path)
}
