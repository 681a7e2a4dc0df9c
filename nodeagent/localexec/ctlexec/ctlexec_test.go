package ctlexec

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/server/control"
)

// TestExecutorTranslates: a task started through the adapter runs, its
// exit reaches the control loop's Status, and its output reads back from
// any offset, with eof at the end.
func TestExecutorTranslates(t *testing.T) {
	r, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := New(r)
	if st, err := e.Status(1, "node001"); err != nil || st.Phase != control.NotStarted {
		t.Fatalf("before start: %+v, %v", st, err)
	}
	if err := e.Start(control.Task{JobID: 1, Node: "node001", Nodes: []string{"node001"}, Script: "printf 0123456789; exit 3\n"}); err != nil {
		t.Fatal(err)
	}
	var st control.Status
	for deadline := time.Now().Add(10 * time.Second); st.Phase != control.Exited; time.Sleep(10 * time.Millisecond) {
		if st, err = e.Status(1, "node001"); err != nil || time.Now().After(deadline) {
			t.Fatalf("status %+v, %v", st, err)
		}
	}
	if st.ExitCode != 3 {
		t.Fatalf("exit %d", st.ExitCode)
	}
	for _, tc := range []struct {
		off  int64
		max  int
		want string
		eof  bool
	}{{0, 4, "0123", false}, {4, 100, "456789", true}, {10, 5, "", true}, {99, 5, "", true}} {
		data, eof, err := e.ReadOutput(t.Context(), 1, "node001", tc.off, tc.max)
		if err != nil || string(data) != tc.want || eof != tc.eof {
			t.Errorf("read %d+%d: %q eof %v %v, want %q eof %v", tc.off, tc.max, data, eof, err, tc.want, tc.eof)
		}
	}
	if _, _, err := e.ReadOutput(t.Context(), 1, "node001", -1, 5); err == nil || !strings.Contains(err.Error(), "negative offset") {
		t.Fatalf("negative offset: %v", err)
	}
}
