package localexec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// TaskRef names a task the runner's files know of.
type TaskRef struct {
	JobID uint64
	Node  string
}

// Tasks lists every task that was started under the runner's root and not
// forgotten since, sorted: what a restarted agent checks with Status to
// adopt the running ones and report those that ended while it was down.
func (r *Runner) Tasks() ([]TaskRef, error) {
	ents, err := os.ReadDir(r.stateRoot())
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var out []TaskRef
	for _, e := range ents {
		id, ok := strings.CutPrefix(e.Name(), "job-")
		if !ok || !e.IsDir() {
			continue
		}
		jobID, err := strconv.ParseUint(id, 10, 64)
		if err != nil || strconv.FormatUint(jobID, 10) != id {
			continue
		}
		pids, _ := filepath.Glob(filepath.Join(r.stateRoot(), e.Name(), "*.pid"))
		for _, p := range pids {
			node := strings.TrimSuffix(filepath.Base(p), ".pid")
			if checkNode(node) != nil { // exec-<pid>.pid files
				continue
			}
			out = append(out, TaskRef{JobID: jobID, Node: node})
		}
	}
	slices.SortFunc(out, func(a, b TaskRef) int {
		if a.JobID != b.JobID {
			if a.JobID < b.JobID {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Node, b.Node)
	})
	return out, nil
}
