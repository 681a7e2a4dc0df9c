package ibsim

import (
	"context"
	"testing"
)

// StartForTest starts a fabric for a test and stops it at cleanup. If
// the binaries are missing it skips the test with Available's message
// naming them, so a skip is never silent.
func StartForTest(tb testing.TB, cfg Config) *Fabric {
	tb.Helper()
	if err := Available(); err != nil {
		tb.Skipf("SKIP (no simulated fabric): %v", err)
	}
	f, err := Start(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := f.Stop(); err != nil {
			tb.Errorf("ibsim stop: %v", err)
		}
	})
	return f
}
