// Package testutil holds test helpers shared by several packages' tests.
// It imports "testing": import it from _test.go files only.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// LoopDevice attaches a loop device to a new file holding content and
// returns both paths; it detaches the device when the test ends. It skips
// the test with -short, without root, without losetup or any of the other
// tools named, or when no loop device can be attached. Loop devices are
// the closest thing to a disk a test can create: the kernel's block-device
// semantics apply (exclusive opens, capacity, discard) and no hardware is
// touched.
func LoopDevice(t testing.TB, content []byte, tools ...string) (dev, backing string) {
	t.Helper()
	if testing.Short() {
		t.Skip("loop device test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("loop device test needs root")
	}
	for _, tool := range append([]string{"losetup"}, tools...) {
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
