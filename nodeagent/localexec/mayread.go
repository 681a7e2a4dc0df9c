package localexec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// MayRead reports whether the job user could open path for reading: every
// directory on the way searchable and the file readable by its owner,
// group or other bits, as the kernel decides for that user (ACLs aside).
// The agent, which runs as root, asks before it looks into a tenant's
// program for them (nodeexec.Probe): what it reads must be what the job
// user could read, or a probe would tell a tenant about files they may
// not see. Nil when jobs run as the runner itself or as root.
func (r *Runner) MayRead(path string) error {
	if r == nil || r.user == nil || r.user.UID == 0 {
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		if !r.user.may(dir, 1) {
			return fmt.Errorf("%s: permission denied for the job user %s (directory %s)", path, r.user.Name, dir)
		}
		if dir == "/" || dir == "." {
			break
		}
	}
	if !r.user.may(real, 4) {
		return fmt.Errorf("%s: permission denied for the job user %s", path, r.user.Name)
	}
	return nil
}

// may reports whether u holds permission bit want (4 read, 1 search or
// execute) on path by its mode's owner, group or other bits.
func (u *JobUser) may(path string, want os.FileMode) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	mode := fi.Mode().Perm()
	switch {
	case st.Uid == u.UID:
		return mode>>6&want != 0
	case st.Gid == u.GID || slices.Contains(u.Groups, st.Gid):
		return mode>>3&want != 0
	default:
		return mode&want != 0
	}
}
