package opensm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// TestOpenSMAgrees runs the installed OpenSM's parser on every grammar
// case and the doc examples: our grammar must be at least as strict.
// Whatever OpenSM rejects (fallback to ALL=full) we must call an
// Error; whatever it warns about we must flag; a file we find clean
// must be clean for OpenSM too.
func TestOpenSMAgrees(t *testing.T) {
	if err := ibsim.Available(); err != nil {
		t.Skipf("SKIP (no simulated fabric): %v", err)
	}
	if testing.Short() {
		t.Skip("SKIP in -short: ~15 s of opensm --once runs")
	}
	rendered, err := Render(testDesired(), sm.TenantIsolation)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{string(docExamples(t)), string(rendered)}
	for _, c := range grammarCases {
		if c.in != "" && !strings.Contains(c.in, "\x00") {
			inputs = append(inputs, c.in)
		}
	}
	ctx := context.Background()
	var total time.Duration
	for _, in := range inputs {
		t0 := time.Now()
		real := OpenSMParser{}.Validate(ctx, []byte(in))
		total += time.Since(t0)
		var pe *OpenSMParseError
		if real != nil && !errors.As(real, &pe) {
			t.Fatalf("harness: %v", real)
		}
		ours := Parse([]byte(in))
		switch {
		case pe != nil && pe.Fatal && ours.Err(Error) == nil:
			t.Errorf("OpenSM rejects, we accept:\n%s\nOpenSM: %v\nours: %v", in, pe, ours.Problems)
		case pe != nil && ours.Err(Warning) == nil:
			t.Errorf("OpenSM warns, we are silent:\n%s\nOpenSM: %v", in, pe)
		case pe == nil && len(ours.Problems) == 0:
			// both clean
		}
		if strings.HasPrefix(in, header) && (real != nil || len(ours.Problems) > 0) {
			t.Errorf("our rendered file is not clean: OpenSM %v, ours %v", real, ours.Problems)
		}
	}
	t.Logf("%d files through opensm --once: %v each on average", len(inputs), total/time.Duration(len(inputs)))
}
