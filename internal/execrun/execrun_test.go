package execrun

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOutputAndExitCode(t *testing.T) {
	out, errb, err := Output(exec.Command("/bin/sh", "-c", "echo out; echo err >&2; exit 3"))
	if string(out) != "out\n" || string(errb) != "err\n" {
		t.Errorf("stdout %q, stderr %q", out, errb)
	}
	if code, ran := ExitCode(err); code != 3 || !ran {
		t.Errorf("ExitCode(%v) = %d, %v", err, code, ran)
	}
	if code, ran := ExitCode(nil); code != 0 || !ran {
		t.Errorf("ExitCode(nil) = %d, %v", code, ran)
	}
	_, _, err = Output(exec.Command("/does/not/exist"))
	if code, ran := ExitCode(err); code != -1 || ran {
		t.Errorf("a command that did not run: ExitCode(%v) = %d, %v", err, code, ran)
	}
}

func TestRunNamesTheCommandAndItsStderr(t *testing.T) {
	out, err := Run(context.Background(), "/bin/sh", "-c", "echo partial; echo 'no such port' >&2; exit 1")
	if string(out) != "partial\n" || err == nil || !strings.Contains(err.Error(), "/bin/sh [-c") || !strings.HasSuffix(err.Error(), ": no such port") {
		t.Errorf("Run = %q, %v", out, err)
	}
	if out, err := Run(context.Background(), "/bin/echo", "hi"); string(out) != "hi\n" || err != nil {
		t.Errorf("Run = %q, %v", out, err)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	var b Buffer
	cmd := exec.Command("/bin/sh", "-c", "trap '' TERM; echo up; exec sleep 30")
	cmd.Stdout = &b
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for b.String() != "up\n" {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	Stop(cmd, syscall.SIGTERM, 200*time.Millisecond)
	if cmd.ProcessState == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("not stopped: %v", cmd.ProcessState)
	}
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Errorf("ended by %v, want SIGKILL after the grace period", ws)
	}
	Stop(nil, syscall.SIGTERM, time.Second) // no process: nothing to do
}
