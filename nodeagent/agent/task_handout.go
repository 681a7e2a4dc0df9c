package agent

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/hca"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// The hand-out check: right before the node goes to its next tenant the
// leader asks for a fast re-check, and this agent answers with what it
// reads now. It judges nothing itself: a part it cannot read is missing
// from the answer or carries its error, and the server (model.CheckHandout)
// decides. It is quick by design: a few image blocks, one firmware query
// per HCA, a walk of /proc and the job cgroups, and the P_Key tables.

// PKeyLister is implemented by PKeyTables that can list every active
// InfiniBand port's whole table (SysfsPKeys does).
type PKeyLister interface {
	PortKeys() ([]model.PortKeys, error)
}

// PortKeys implements PKeyLister: active InfiniBand ports only (a RoCE
// port or one that is down holds no partition).
func (s SysfsPKeys) PortKeys() ([]model.PortKeys, error) {
	tables, err := s.Scanner.PKeyTables()
	var out []model.PortKeys
	for _, t := range tables {
		if t.State.Known() && t.State.Code == hca.PortActive && t.LinkLayer != "Ethernet" {
			out = append(out, model.PortKeys{Port: t.Port, Keys: t.Keys})
		}
	}
	return out, err
}

// handoutEvidence is what the check read and how long it took.
type handoutEvidence struct {
	Started   time.Time
	Durations map[string]time.Duration
	// BytesRead is what the image part read from the disk.
	BytesRead int64
	Errors    []string `json:",omitempty"`
}

func (a *Agent) runHandout(ctx context.Context, _ string, t *pb.HandoutTask, ch *model.Challenge) *savedResult {
	if ch == nil {
		return result(fmt.Errorf("hand-out check: %w", errNoChallenge), nil)
	}
	ev := handoutEvidence{Started: time.Now(), Durations: map[string]time.Duration{}}
	ans := &model.Answer{Nonce: ch.Nonce}
	timed := func(part string, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			ev.Errors = append(ev.Errors, part+": "+err.Error())
		}
		ev.Durations[part] = time.Since(start)
	}
	if ch.Image != "" {
		timed("image", func() error {
			blocks, n, err := a.readImageBlocks(ctx, t.GetImage(), ch)
			ev.BytesRead = n
			if err == nil {
				ans.Image = blocks
			}
			return err
		})
	}
	if len(ch.Pins) > 0 {
		timed("firmware", func() error {
			targets, _, _ := a.firmwareTargets()
			ans.Firmware = &model.FirmwareAnswer{Devices: a.readSettings(ctx, a.readFirmware(ctx, targets), ch)}
			return nil
		})
	}
	timed("processes", func() error {
		p, err := a.leftovers()
		if err == nil {
			ans.Procs = p
		}
		return err
	})
	if ch.PKeys {
		timed("pkeys", func() error {
			ans.PKeys = a.ownPKeys()
			return nil
		})
	}
	return withAnswer(result(nil, &ev), ans)
}

// readImageBlocks reads the challenged blocks of the node's image.
func (a *Agent) readImageBlocks(ctx context.Context, pi *pb.Image, ch *model.Challenge) (*model.ImageAnswer, int64, error) {
	img, err := imageOf(pi)
	if err != nil {
		return nil, 0, err
	}
	if img.Ref() != ch.Image {
		return nil, 0, fmt.Errorf("the task names image %s, the challenge %s", img.Ref(), ch.Image)
	}
	disk, err := a.ReadDisk(a.cfg.Disk)
	if err != nil {
		return nil, 0, fmt.Errorf("open disk %s: %w", a.cfg.Disk, err)
	}
	if c, ok := disk.(io.Closer); ok {
		defer c.Close()
	}
	blocks, n, err := imaging.ReadBlocks(ctx, disk, img, ch.Blocks)
	if err != nil {
		return nil, n, err
	}
	return &model.ImageAnswer{Image: img.Ref(), BlockSize: img.BlockSize, Blocks: blocks}, n, nil
}

// leftovers is what the job runner still holds of earlier jobs.
func (a *Agent) leftovers() (*model.ProcAnswer, error) {
	if a.Jobs == nil {
		return &model.ProcAnswer{Checked: []string{"nothing: this agent runs no jobs"}}, nil
	}
	l, err := a.Jobs.Leftovers()
	if err != nil {
		return nil, err
	}
	p := &model.ProcAnswer{Checked: l.Checked}
	cgs := make([]string, 0, len(l.Cgroups))
	for cg := range l.Cgroups {
		cgs = append(cgs, cg)
	}
	sort.Strings(cgs)
	for _, cg := range cgs {
		p.Leftover = append(p.Leftover, fmt.Sprintf("cgroup %s holds %v", cg, l.Cgroups[cg]))
	}
	p.Leftover = append(p.Leftover, l.UserProcs...)
	if len(p.Leftover) > 64 {
		p.Leftover = append(p.Leftover[:64], fmt.Sprintf("and %d more", len(p.Leftover)-64))
	}
	return p, nil
}

// ownPKeys reads the node's own P_Key tables.
func (a *Agent) ownPKeys() *model.PKeyAnswer {
	l, ok := a.PKeys.(PKeyLister)
	if !ok {
		return &model.PKeyAnswer{Error: fmt.Sprintf("this agent's P_Key reader (%T) cannot list its tables", a.PKeys)}
	}
	ports, err := l.PortKeys()
	p := &model.PKeyAnswer{Ports: ports}
	if err != nil {
		p.Error = err.Error()
	}
	return p
}
