package firmware

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// recorder stands in for os/exec and records argument lists.
type recorder struct {
	calls [][]string
	out   string
	err   error
}

func (r *recorder) run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, append([]string{name}, args...))
	return []byte(r.out), r.err
}

func TestMstflintCommandLines(t *testing.T) {
	rec := &recorder{out: readOutput(t, "mstflint_q_running_fw_pending_reset.txt")}
	m := &Mstflint{Run: rec.run, ResetArgs: []string{"--level", "3"}}
	ctx := context.Background()
	q, err := m.Query(ctx, "0000:3b:00.0")
	if err != nil || !q.PendingReset {
		t.Fatalf("Query: %+v %v", q, err)
	}
	rec.out = "-I- To load new FW run mstfwreset or reboot machine.\n"
	if err := m.Burn(ctx, "mlx5_0", "-fw.bin"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reset(ctx, "mlx5_0"); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("-fw.bin")
	want := []string{
		"mstflint -d 0000:3b:00.0 q",
		"mstflint -d mlx5_0 -i " + abs + " -y burn",
		"mstfwreset -d mlx5_0 -y --level 3 reset",
	}
	for i, w := range want {
		if i >= len(rec.calls) || strings.Join(rec.calls[i], " ") != w {
			t.Errorf("call %d: got %q, want %q", i, rec.calls, w)
		}
	}
	for _, dev := range []string{"", "-y", "mlx5_0 -i x", "mlx5\n0"} {
		if _, err := m.Query(ctx, dev); err == nil {
			t.Errorf("Query(%q): want error", dev)
		}
		if err := m.Burn(ctx, dev, "x"); err == nil {
			t.Errorf("Burn(%q): want error", dev)
		}
	}
	if len(rec.calls) != 3 {
		t.Errorf("invalid devices reached the tool: %q", rec.calls[3:])
	}
}

func TestMstflintToolErrors(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{out: "-E- Cannot open Device: mlx5_0. No such file or directory. MFE_CR_ERROR\n", err: errors.New("exit status 1")}
	m := &Mstflint{Run: rec.run}
	if _, err := m.Query(ctx, "mlx5_0"); err == nil || !strings.Contains(err.Error(), "Cannot open Device") {
		t.Errorf("Query error should quote the tool: %v", err)
	}
	// A zero exit with an -E- line is still a failure.
	rec.err = nil
	rec.out = "-E- Burning FW image failed: Bad parameter\n"
	if err := m.Burn(ctx, "mlx5_0", "/x.bin"); err == nil || !strings.Contains(err.Error(), "Bad parameter") {
		t.Errorf("Burn: %v", err)
	}
}

// TestMstflintExec runs the real os/exec path against stand-in scripts that
// print the recorded mstflint output, so no hardware is needed.
func TestMstflintExec(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	fixture, _ := filepath.Abs(filepath.Join(mstflintDir, "mstflint_q_fw20_ConnectX6_MT_0000000228.txt"))
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := &Mstflint{
		Path:      script("mstflint", `echo "$@" > `+dir+`/args; cat '`+fixture+`'`),
		ResetPath: script("mstfwreset", `echo "-E- The tool is not supported on virtual machines."; exit 1`),
	}
	q, err := ok.Query(context.Background(), "0000:3b:00.0")
	if err != nil || q.FWVersion != "20.35.1012" {
		t.Fatalf("Query via exec: %+v %v", q, err)
	}
	if args, _ := os.ReadFile(filepath.Join(dir, "args")); strings.TrimSpace(string(args)) != "-d 0000:3b:00.0 q" {
		t.Errorf("args %q", args)
	}
	err = ok.Reset(context.Background(), "0000:3b:00.0")
	if err == nil || !strings.Contains(err.Error(), "virtual machines") || ExitCode(err) != 1 {
		t.Errorf("Reset: %v (exit %d)", err, ExitCode(err))
	}
	missing := &Mstflint{Path: filepath.Join(dir, "nope")}
	if _, err := missing.Query(context.Background(), "mlx5_0"); err == nil {
		t.Error("missing binary: want error")
	}
}

// TestDebianMstflint runs the packaged tool when it is installed (Debian's
// "mstflint"). Without an adapter it must fail cleanly, and the error must
// carry the tool's own message.
func TestDebianMstflint(t *testing.T) {
	if _, err := exec.LookPath("mstflint"); err != nil {
		t.Skip("mstflint not installed")
	}
	m := &Mstflint{}
	_, err := m.Query(context.Background(), "0000:ff:1f.7")
	if err == nil {
		t.Skip("a device answered at 0000:ff:1f.7; not a test machine")
	}
	if !strings.Contains(err.Error(), "-E-") {
		t.Errorf("error does not carry mstflint's message: %v", err)
	}
	t.Logf("mstflint without hardware: %v", err)
}
