package localexec

// A task's stdout and stderr are kept apart (#15.2): <node>.out holds
// stdout and <node>.err stderr, unless the job named -o/-e files, which
// the job user's loader opened in the working directory (jobenv.go). Then
// the task's <node>.files records their paths, and ReadStream reads them
// for `ibex logs`, but only as what they must be: a regular file, reached
// without following a link at its last component, owned by the job user.
// A job can put a link or a hard link at its output's name; the runner
// (root) must not read through it what the job user could not.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ibex-hpc/ibex/model"
)

// Output streams.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// taskFiles is the <node>.files record: the -o/-e files, absolute.
type taskFiles struct {
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// Shared files (a pattern without %N/%n/%t: every node appends to
	// one) are shown once, under the job's first node.
	StdoutShown bool `json:"stdout_shown,omitempty"`
	StderrShown bool `json:"stderr_shown,omitempty"`
}

// recordFiles writes where the task's -o/-e files are, before it starts.
func (r *Runner) recordFiles(t Task) error {
	out, errf, err := outputFiles(t)
	if err != nil || out == "" && errf == "" {
		return err
	}
	dir := t.Workdir
	if dir == "" {
		dir = r.JobDir(t.JobID)
	}
	var f taskFiles
	if out != "" {
		f.Stdout = absIn(dir, out)
		f.StdoutShown = t.NodeIndex == 0 || model.PerNodePattern(t.Output)
	}
	if errf != "" && errf != out {
		f.Stderr = absIn(dir, errf)
		f.StderrShown = t.NodeIndex == 0 || model.PerNodePattern(t.Error)
	}
	b, _ := json.Marshal(f)
	return writeAtomic(r.file(t.JobID, t.Node, "files"), b, r.fileMode())
}

func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func (r *Runner) taskFiles(jobID uint64, node string) taskFiles {
	var f taskFiles
	if b, err := os.ReadFile(r.file(jobID, node, "files")); err == nil && len(b) < 3*MaxReadOutput {
		_ = json.Unmarshal(b, &f)
	}
	return f
}

// ReadStream reads at most max bytes (capped at MaxReadOutput) of one of
// the task's output streams from offset, and the stream's size, as
// ReadOutput does for stdout. With only -o, stderr went to the same file,
// and the stderr stream holds only what came before it was opened.
func (r *Runner) ReadStream(jobID uint64, node, stream string, offset int64, max int) (data []byte, size int64, err error) {
	if err := checkNode(node); err != nil {
		return nil, 0, fmt.Errorf("read output: %w", err)
	}
	if offset < 0 || max < 0 {
		return nil, 0, fmt.Errorf("read output of job %d on %s: negative offset or length", jobID, node)
	}
	files := r.taskFiles(jobID, node)
	// A -o/-e file that does not exist (the job could not create it, or
	// has not started) leaves the node's own file, which then holds why.
	switch stream {
	case "", StreamStdout:
		if files.Stdout != "" && files.StdoutShown && r.exists(files.Stdout) {
			return r.readUserFile(files.Stdout, offset, max)
		}
		return readFileAt(r.file(jobID, node, "out"), offset, max)
	case StreamStderr:
		if files.Stderr != "" && files.StderrShown && r.exists(files.Stderr) {
			return r.readUserFile(files.Stderr, offset, max)
		}
		// Without -e, stderr went into the -o file; what the node's
		// file holds is what came before (the loader's complaints).
		return readFileAt(r.file(jobID, node, "err"), offset, max)
	}
	return nil, 0, fmt.Errorf("read output: unknown stream %q (stdout or stderr)", stream)
}

// exists reports whether path names anything (a link included), without
// following or opening it.
func (r *Runner) exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// readUserFile reads a file the job user's processes wrote, refusing
// anything but the job user's regular file.
func (r *Runner) readUserFile(path string, offset int64, max int) ([]byte, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil // not written (yet)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("output file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	uid := uint32(os.Geteuid())
	if r.user != nil {
		uid = r.user.UID
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || !ok || st.Uid != uid {
		return nil, 0, fmt.Errorf("output file %s is not a regular file of the job user: not shown", path)
	}
	return readAt(f, fi.Size(), offset, max)
}

func readFileAt(path string, offset int64, max int) ([]byte, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return readAt(f, fi.Size(), offset, max)
}

func readAt(f *os.File, size, offset int64, max int) ([]byte, int64, error) {
	max = min(max, MaxReadOutput)
	if offset >= size || max == 0 {
		return nil, size, nil
	}
	buf := make([]byte, min(int64(max), size-offset))
	n, err := f.ReadAt(buf, offset)
	if errors.Is(err, io.EOF) { // truncated since the Stat
		err = nil
	}
	return buf[:n], size, err
}
