package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// What a node booted, for deployments through its BMC (issue #14.7): the
// leader power-cycles the node into its deploy ramdisk with a one-time
// boot, the ramdisk's agent writes and verifies the image, the leader
// boots the node from disk, and the agent on the deployed image checks in.
// Without the node's own word, "an agent connected after the power cycle"
// is all the leader could go by, and a one-time boot that did not take (the
// node came back from its old disk) would pass for a ramdisk.
//
// So every Hello carries a BootReport: in BootRamdisk, just that; in
// BootDisk, the image the disk's boot record names and the sha256 of the
// disk's first size bytes, computed from the disk when the agent starts
// (i.e. at boot), which the leader compares with the catalog's digest.
//
// The boot record is what a deploy ramdisk leaves for the next boot, like
// the boot entry it would write to the ESP or NVRAM: the image's name,
// size and digest. The agent writes it after every verified image task and
// removes it before an erase, so it always describes the disk; it never
// vouches for the disk's content, which is hashed again at every boot.

// BootMode is what this boot of the node is.
type BootMode string

const (
	// BootRamdisk: the deploy ramdisk, booted once from the network or
	// virtual media.
	BootRamdisk BootMode = "ramdisk"
	// BootDisk: the image on the node's disk.
	BootDisk BootMode = "disk"
)

// maxBootRecordBytes bounds the boot record the agent reads at boot.
const maxBootRecordBytes = 4 << 10

// bootRecord is the boot record's content.
type bootRecord struct {
	Image  string `json:"image"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// bootState is the report of this agent's boot, computed once.
type bootState struct {
	once   sync.Once
	report *pb.BootReport
}

func (c Config) checkBoot() error {
	switch c.BootMode {
	case "":
		return nil
	case BootRamdisk, BootDisk:
		if c.BootRecord == "" {
			return fmt.Errorf("boot mode %s needs a boot record file (where the ramdisk leaves the deployed image's name and digest)", c.BootMode)
		}
		return nil
	}
	return fmt.Errorf("boot mode %q: want %s or %s", c.BootMode, BootRamdisk, BootDisk)
}

// bootReport is this boot's report, nil without a boot mode.
func (a *Agent) bootReport(ctx context.Context) *pb.BootReport {
	a.boot.once.Do(func() {
		switch a.cfg.BootMode {
		case BootRamdisk:
			a.boot.report = &pb.BootReport{Mode: string(BootRamdisk)}
		case BootDisk:
			a.boot.report = a.diskBootReport(ctx)
		}
	})
	return a.boot.report
}

// diskBootReport hashes the image the boot record names from the disk.
func (a *Agent) diskBootReport(ctx context.Context) *pb.BootReport {
	r := &pb.BootReport{Mode: string(BootDisk)}
	rec, err := readBootRecord(a.cfg.BootRecord)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Image = rec.Image
	disk, err := a.ReadDisk(a.cfg.Disk)
	if err != nil {
		r.Error = fmt.Sprintf("open disk %s: %v", a.cfg.Disk, err)
		return r
	}
	if c, ok := disk.(io.Closer); ok {
		defer c.Close()
	}
	h := sha256.New()
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.NewSectionReader(disk, 0, rec.Size)})
	if err == nil && n != rec.Size {
		err = fmt.Errorf("the disk ends after %d of the image's %d bytes", n, rec.Size)
	}
	if err != nil {
		r.Error = fmt.Sprintf("hash image %s on disk %s: %v", rec.Image, a.cfg.Disk, err)
		return r
	}
	r.Sha256 = hex.EncodeToString(h.Sum(nil))
	if r.Sha256 != rec.SHA256 {
		r.Error = fmt.Sprintf("the disk's first %d bytes hash to %s, not the %s its boot record names for %s", rec.Size, r.Sha256, rec.SHA256, rec.Image)
	}
	return r
}

// readBootRecord reads and checks the boot record at path.
func readBootRecord(path string) (bootRecord, error) {
	var rec bootRecord
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return rec, errors.New("no boot record: no image was written to this disk since its last erase")
	}
	if err != nil {
		return rec, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBootRecordBytes+1))
	if err != nil {
		return rec, err
	}
	if len(b) > maxBootRecordBytes {
		return rec, fmt.Errorf("boot record %s is over %d bytes", path, maxBootRecordBytes)
	}
	return parseBootRecord(b)
}

// parseBootRecord validates a boot record's bytes.
func parseBootRecord(b []byte) (bootRecord, error) {
	var rec bootRecord
	if len(b) > maxBootRecordBytes {
		return rec, fmt.Errorf("boot record over %d bytes", maxBootRecordBytes)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("boot record: %w", err)
	}
	sum, err := hex.DecodeString(rec.SHA256)
	switch {
	case rec.Image == "" || len(rec.Image) > 256:
		return rec, fmt.Errorf("boot record: image name of %d bytes", len(rec.Image))
	case rec.Size <= 0:
		return rec, fmt.Errorf("boot record: image size %d", rec.Size)
	case err != nil || len(sum) != sha256.Size:
		return rec, errors.New("boot record: sha256 is not 64 hex digits")
	}
	return rec, nil
}

// imageWritten leaves the boot record of a verified image task: the disk
// now boots that image.
func (a *Agent) imageWritten(t *pb.ImageTask, res *savedResult) {
	if a.cfg.BootRecord == "" || res == nil || !res.OK {
		return
	}
	img, err := imageOf(t.GetImage())
	if err != nil {
		return
	}
	b, err := json.Marshal(bootRecord{Image: img.Ref(), Size: img.Size, SHA256: img.SHA256})
	if err == nil {
		err = writeFileAtomic(a.cfg.BootRecord, b)
	}
	if err != nil {
		a.log.Error("write the boot record: the next boot from disk will report no image", "err", err)
	}
}

// diskErasing removes the boot record before the disk is erased.
func (a *Agent) diskErasing() {
	if a.cfg.BootRecord == "" {
		return
	}
	if err := os.Remove(a.cfg.BootRecord); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Error("remove the boot record before an erase", "err", err)
	}
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
