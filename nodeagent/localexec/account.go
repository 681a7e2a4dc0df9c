package localexec

// Accounting: what a task used, read from its cgroup while the cgroup
// exists and from <node>.acct in the bookkeeping directory after Clean
// removed it (Clean writes the final numbers there first), so a later
// Status, by this runner or a restarted one, still reports them.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// usage is what Status reports from the cgroup.
type usage struct {
	CPUUsec         uint64
	MemoryPeakBytes uint64
}

// maxAcctFile bounds the .acct file: a few short lines.
const maxAcctFile = 4 << 10

// account fills st's accounting fields.
func (r *Runner) account(st *Status, jobID uint64, node string) error {
	for _, ext := range []string{"out", "err"} {
		if fi, err := os.Stat(r.file(jobID, node, ext)); err == nil {
			st.OutputBytes += fi.Size()
		}
	}
	if r.cg != nil {
		u, ok, err := r.cg.usage(jobID, node)
		if err != nil {
			return err
		}
		if ok {
			st.CPUUsec, st.MemoryPeakBytes = u.CPUUsec, u.MemoryPeakBytes
			return nil
		}
	}
	u, err := r.readAcct(jobID, node)
	if err != nil {
		return err
	}
	st.CPUUsec, st.MemoryPeakBytes = u.CPUUsec, u.MemoryPeakBytes
	return nil
}

// saveAcct keeps the cgroup's final numbers before it goes away.
func (r *Runner) saveAcct(jobID uint64, node string) error {
	u, ok, err := r.cg.usage(jobID, node)
	if err != nil || !ok {
		return err
	}
	data := fmt.Sprintf("cpu_usec %d\nmemory_peak_bytes %d\n", u.CPUUsec, u.MemoryPeakBytes)
	return writeAtomic(r.file(jobID, node, "acct"), []byte(data), r.fileMode())
}

func (r *Runner) readAcct(jobID uint64, node string) (usage, error) {
	path := r.file(jobID, node, "acct")
	b, err := readBounded(path, maxAcctFile)
	if errors.Is(err, fs.ErrNotExist) {
		return usage{}, nil
	}
	if err != nil {
		return usage{}, err
	}
	kv, err := parseKeyed(b)
	if err != nil {
		return usage{}, fmt.Errorf("%s: %w", path, err)
	}
	return usage{CPUUsec: kv["cpu_usec"], MemoryPeakBytes: kv["memory_peak_bytes"]}, nil
}

// parseKeyed parses the flat keyed format of cgroup files (cpu.stat,
// cgroup.events) and of .acct files: "key value" lines, value a decimal
// uint64. The caller bounds the input's size.
func parseKeyed(b []byte) (map[string]uint64, error) {
	m := map[string]uint64{}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		k, v, ok := strings.Cut(string(line), " ")
		if !ok || k == "" || !keyOK(k) {
			return nil, fmt.Errorf("line %q is not \"key value\"", line)
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || v[0] == '+' {
			return nil, fmt.Errorf("line %q: value is not a decimal number", line)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("key %q twice", k)
		}
		m[k] = n
	}
	return m, nil
}

func keyOK(k string) bool {
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
