package ibexv1

import (
	"os/exec"
	"testing"
)

// TestGeneratedFilesAreUpToDate regenerates proto/ibexv1 (messages, gRPC,
// REST gateway, OpenAPI document) with the pinned generators into a
// scratch directory (`make proto-check`) and fails when a committed file
// differs: someone edited ibex.proto or ibex_rest.yaml without `make
// proto`. Skipped without protoc or make, or when the pinned plugins
// cannot be installed (no module cache and no network).
func TestGeneratedFilesAreUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the protoc plugins: not in -short")
	}
	for _, tool := range []string{"protoc", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install protobuf-compiler make)", tool)
		}
	}
	bin := "PROTO_BIN=" + t.TempDir()
	if out, err := exec.Command("make", "-s", "-C", "../..", "proto-plugins", bin).CombinedOutput(); err != nil {
		t.Skipf("cannot install the pinned protoc plugins: %v\n%s", err, out)
	}
	if out, err := exec.Command("make", "-s", "-C", "../..", "proto-check", bin).CombinedOutput(); err != nil {
		t.Fatalf("make proto-check: %v\n%s", err, out)
	}
}
