package erase

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/ibex-hpc/ibex/internal/testutil"
)

// TestBlockLoopDevice runs Block with the real tools: the loop driver
// refuses BLKSECDISCARD, so the real fallback to --zeroout is exercised,
// and the canaries are written and checked through the block device.
func TestBlockLoopDevice(t *testing.T) {
	const size = 16 << 20
	dev, backing := testutil.LoopDevice(t, randomBytes(size, 12), "blkdiscard", "blockdev")
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
	dev, backing := testutil.LoopDevice(t, randomBytes(size, 13), "blkdiscard", "blockdev")
	ev, err := (&Overwrite{Pattern: []byte("ibex")}).Erase(context.Background(), Disk{Path: dev, Kind: KindHDD, Size: size})
	if err != nil {
		t.Fatalf("Erase: %v\n%+v", err, ev)
	}
	got, _ := os.ReadFile(backing)
	if !bytes.Equal(got, bytes.Repeat([]byte("ibex"), size/4)) {
		t.Error("backing file does not hold the pattern")
	}
}
