package ibsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Console sends one command line to ibsim's console ("Unlink
// \"node003\"", "ReLink \"node003\"", "Attached", ...) and returns
// what ibsim printed in reply, up to its next prompt.
func (f *Fabric) Console(cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\n\r") {
		return "", fmt.Errorf("ibsim: console command must be one line")
	}
	f.consMu.Lock()
	defer f.consMu.Unlock()
	outPath := filepath.Join(f.Dir, "ibsim.out")
	st, err := os.Stat(outPath)
	if err != nil {
		return "", err
	}
	start := st.Size()
	if _, err := f.console.WriteString(cmd + "\n"); err != nil {
		return "", fmt.Errorf("ibsim: console: %w", err)
	}
	var reply string
	err = f.poll(context.Background(), "console reply", func() (bool, error) {
		if f.sim.exited() {
			return false, errors.New("ibsim exited")
		}
		b, err := os.ReadFile(outPath)
		if err != nil || int64(len(b)) <= start {
			return false, err
		}
		s := string(b[start:])
		if i := strings.Index(s, "sim> "); i >= 0 {
			reply = strings.TrimSpace(s[:i])
			return true, nil
		}
		return false, nil
	})
	return reply, err
}
