package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ibex-hpc/ibex/nodeagent/localexec"
)

// jobRunner is what the agent needs of the runner that starts and watches
// job processes on this node (a localexec.Runner). Tests use the real one.
type jobRunner interface {
	Start(t localexec.Task) error
	Status(jobID uint64, node string) (localexec.Status, error)
	Kill(jobID uint64, node string) error
	Clean(jobID uint64, node string) (evidence string, err error)
	// ReadOutput returns at most max bytes of the job's output from
	// offset (≥ 0), and the output's size so far.
	ReadOutput(jobID uint64, node string, offset int64, max int) (data []byte, size int64, err error)
}

// localRunner adapts a localexec.Runner.
type localRunner struct {
	*localexec.Runner
}

// ReadOutput reads Root/job-<id>/<node>.out (see localexec's package
// comment).
//
// TODO(lead): the jobrun branch adds Runner.ReadOutput(jobID, node,
// offset, max) ([]byte, int64, error); once merged, delete this method so
// the runner's own is used (check that its int64 is the output's size so
// far, which jobs.go relies on to find the end of the output).
func (r localRunner) ReadOutput(jobID uint64, node string, offset int64, max int) ([]byte, int64, error) {
	if offset < 0 || max < 0 {
		return nil, 0, fmt.Errorf("read output at %d, max %d: want non-negative values", offset, max)
	}
	f, err := os.Open(filepath.Join(r.JobDir(jobID), node+".out"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if offset >= st.Size() {
		return nil, st.Size(), nil
	}
	buf := make([]byte, min(int64(max), st.Size()-offset))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return buf[:n], st.Size(), nil
}
