package ibsim

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// ScratchDir is where tools run: umad2sim writes a fake sysfs tree
// "sys-<pid>" into the working directory of every client.
func (f *Fabric) ScratchDir() string { return filepath.Join(f.Dir, "scratch") }

// DefaultToolTimeout bounds one tool process (see Run).
const DefaultToolTimeout = 30 * time.Second

// Run runs an infiniband-diags tool (ibnetdiscover, smpquery, ...)
// against the fabric and returns its stdout.
//
// At most a few tools run at once: ibsim serves 10 client processes
// and opensm needs one. A tool is not killed when ctx ends (Run
// returns early instead): a client killed by a signal keeps its ibsim
// slot until ibsim next writes to it. But a tool still running after
// Fabric.ToolTimeout is killed: umad2sim can deadlock in its exit
// handler after a failed MAD (seen with smpquery during a 648-host
// sweep), and such a process never ends by itself. Its slot, if it
// still holds one, is then freed with the console's "X <client>".
func (f *Fabric) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	bin, err := lookPath(name)
	if err != nil {
		return nil, fmt.Errorf("ibsim: %w", err)
	}
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = f.ScratchDir()
	cmd.Env = f.Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		<-f.slots
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-f.slots }()
		timeout := f.ToolTimeout
		if timeout == 0 {
			timeout = DefaultToolTimeout
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			done <- err
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			<-exited
			f.freeSlotOf(cmd.Process.Pid)
			done <- fmt.Errorf("killed after %v (hung)", timeout)
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			return out.Bytes(), fmt.Errorf("ibsim: %s %v: %v: %s", name, args, err, bytes.TrimSpace(errb.Bytes()))
		}
		return out.Bytes(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var attachedRE = regexp.MustCompile(`Client (\d+): pid (\d+) `)

// freeSlotOf detaches a killed client from ibsim if it still holds a slot.
func (f *Fabric) freeSlotOf(pid int) {
	list, err := f.Console("Attached")
	if err != nil {
		return
	}
	for _, m := range attachedRE.FindAllStringSubmatch(list, -1) {
		if p, _ := strconv.Atoi(m[2]); p == pid {
			_, _ = f.Console("X " + m[1])
		}
	}
}
