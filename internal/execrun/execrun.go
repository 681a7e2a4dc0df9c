// Package execrun runs commands and collects their output: the one copy of
// what fabric/health and fabric/sm/opensm (running infiniband-diags), the
// end-to-end tests and internal/testcluster (running ibexd, ibex and
// ibex-agent) each wrote for themselves.
package execrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Func runs a tool and returns its stdout. It is the seam between code
// that reads the fabric through infiniband-diags and the fabric: Run on
// the SM host, ibsim.Fabric.Run against a simulated fabric, a fake in unit
// tests.
type Func func(ctx context.Context, name string, args ...string) ([]byte, error)

// Run runs name from $PATH and returns its stdout. A failure's error names
// the command and carries its stderr.
func Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	stdout, stderr, err := Output(exec.CommandContext(ctx, name, args...))
	if err != nil {
		return stdout, fmt.Errorf("%s %v: %v: %s", name, args, err, bytes.TrimSpace(stderr))
	}
	return stdout, nil
}

// Output runs cmd, which must not be started and must have neither Stdout
// nor Stderr set, to completion and returns what it wrote to each. err is
// cmd.Run's: an *exec.ExitError when it ran and failed (see ExitCode).
func Output(cmd *exec.Cmd) (stdout, stderr []byte, err error) {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, nil, errors.New("execrun: Stdout or Stderr already set")
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// ExitCode tells a command's exit code from the error Output, exec.Cmd.Run
// or Wait returned: 0 for nil, the code for an *exec.ExitError (-1 when a
// signal ended the process), and ok false when the error says the command
// did not run at all (not found, not started).
func ExitCode(err error) (code int, ok bool) {
	if err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	return -1, false
}

// Stop signals a started process and waits for it to exit; after grace it
// kills the process and waits again. Nothing else may Wait for cmd.
func Stop(cmd *exec.Cmd, sig os.Signal, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Buffer collects a running process's output while another goroutine
// reads it: a bytes.Buffer behind a mutex. Its zero value is empty and
// ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
