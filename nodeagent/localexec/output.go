package localexec

import (
	"fmt"
)

// MaxReadOutput caps one ReadOutput: the agent streams output in chunks
// of at most this size, so no message has to hold a whole log.
const MaxReadOutput = 1 << 20

// ReadOutput reads at most max bytes (capped at MaxReadOutput) of the
// task's output from offset, for streaming logs. size is the output's size
// at the time of the read: a follower reads on from offset+len(data) and
// knows it has caught up when that reaches size. A task that has written
// nothing, or never started, has size 0 and no data.
func (r *Runner) ReadOutput(jobID uint64, node string, offset int64, max int) (data []byte, size int64, err error) {
	if offset < 0 {
		return nil, 0, fmt.Errorf("read output of job %d on %s: negative offset %d", jobID, node, offset)
	}
	if max < 0 {
		return nil, 0, fmt.Errorf("read output of job %d on %s: negative length %d", jobID, node, max)
	}
	if err := checkNode(node); err != nil {
		return nil, 0, fmt.Errorf("read output: %w", err)
	}
	return readFileAt(r.file(jobID, node, "out"), offset, max) // output_streams.go
}
