package erase

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loopDevice attaches a loop device to a file holding content, or skips.
// Loop devices are the closest thing to a disk a test can create: the
// real blkdiscard, blockdev and O_EXCL semantics apply, no hardware is
// touched.
func loopDevice(t *testing.T, content []byte) (dev, backing string) {
	t.Helper()
	if testing.Short() {
		t.Skip("loop device test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("loop device test needs root")
	}
	for _, tool := range []string{"losetup", "blkdiscard", "blockdev"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("loop device test needs %s (util-linux)", tool)
		}
	}
	backing = filepath.Join(t.TempDir(), "backing.img")
	if err := os.WriteFile(backing, content, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev, backing
}

// TestBlockLoopDevice runs Block with the real tools: the loop driver
// refuses BLKSECDISCARD, so the real fallback to --zeroout is exercised,
// and the canaries are written and checked through the block device.
func TestBlockLoopDevice(t *testing.T) {
	const size = 16 << 20
	dev, backing := loopDevice(t, randomBytes(size, 12))
	ev, err := (&Block{}).Erase(context.Background(), Disk{Path: dev, Kind: KindSSD, Size: size})
	if err != nil {
		t.Fatalf("Erase: %v\n%+v", err, ev)
	}
	if ev.Method != MethodZeroOut || ev.Bytes != size || len(ev.Commands) != 3 || ev.SamplesChecked < 2 {
		t.Errorf("evidence: %+v", ev)
	}
	got, err := os.ReadFile(backing)
	if err != nil || !bytes.Equal(got, make([]byte, size)) {
		t.Errorf("backing file not zeroed: %v", err)
	}
}

// TestOverwriteLoopDevice runs Overwrite through FileDevice on a real
// block device (exclusive open, device size from the kernel).
func TestOverwriteLoopDevice(t *testing.T) {
	const size = 8 << 20
	dev, backing := loopDevice(t, randomBytes(size, 13))
	ev, err := (&Overwrite{Pattern: []byte("ibex")}).Erase(context.Background(), Disk{Path: dev, Kind: KindHDD, Size: size})
	if err != nil {
		t.Fatalf("Erase: %v\n%+v", err, ev)
	}
	got, _ := os.ReadFile(backing)
	if !bytes.Equal(got, bytes.Repeat([]byte("ibex"), size/4)) {
		t.Error("backing file does not hold the pattern")
	}
}
