package agent

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// termFile in Config.DataDir holds the highest leader term the agent has
// accepted a task from, in decimal.
const termFile = "term"

// maxTermFile bounds what is read from termFile: a decimal uint64 and a
// newline.
const maxTermFile = 64

// fence refuses tasks from deposed leaders. Every task carries the raft
// term of the leader that sent it; the agent records the highest term it
// has seen, on disk before it acts on the task, and refuses any task of a
// lower term. A leader paused (SIGSTOP, a long GC, a partition) and
// resumed after another was elected therefore cannot start, stop or clean
// anything here once the agent has heard from its successor, which
// announces its term as soon as the agent connects.
//
// Term 0 is a server that does not send terms (older than this agent): it
// is accepted only while no term was ever recorded, so mixing an old
// server into an upgraded cluster cannot bypass the fence.
//
// Raft terms only grow, so the rule never refuses the real leader. A
// cluster rebuilt from scratch starts again at term 1: its agents refuse
// it until an operator removes DataDir/term (the error says so).
type fence struct {
	mu   sync.Mutex
	path string
	term uint64
}

// StaleTermError is the refusal of a task from a deposed leader.
type StaleTermError struct {
	Got, Seen uint64
}

func (e *StaleTermError) Error() string {
	if e.Got == 0 {
		return fmt.Sprintf("stale leader term: the task carries no term but this agent has seen term %d (an ibexd older than its peers?)", e.Seen)
	}
	return fmt.Sprintf("stale leader term %d < %d: a newer leader exists, so this task is refused (if the cluster was rebuilt from scratch, remove %s from the agent's data dir)", e.Got, e.Seen, termFile)
}

// openFence reads the recorded term. An unreadable term file is fatal
// rather than reset: starting from 0 would let a deposed leader in.
func openFence(path string) (*fence, error) {
	f := &fence{path: path}
	b, err := readFileIfExists(path)
	if err != nil {
		return nil, fmt.Errorf("agent: leader term file: %w", err)
	}
	if b == nil {
		return f, nil
	}
	if f.term, err = parseTerm(b); err != nil {
		return nil, fmt.Errorf("agent: leader term file %s: %w (it must hold the highest leader term seen; remove it only if no deposed server can still reach this node)", path, err)
	}
	return f, nil
}

func parseTerm(b []byte) (uint64, error) {
	if len(b) > maxTermFile {
		return 0, fmt.Errorf("%d bytes, want at most %d", len(b), maxTermFile)
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// admit checks a task's term against the highest seen and records a
// higher one before returning: once admit returns nil for term T, no task
// of a term below T is ever admitted again, across restarts.
func (f *fence) admit(term uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case term == f.term:
		return nil
	case term < f.term:
		return &StaleTermError{Got: term, Seen: f.term}
	}
	if err := writeFileAtomic(f.path, []byte(strconv.FormatUint(term, 10)+"\n")); err != nil {
		return fmt.Errorf("cannot record leader term %d, so the task is refused: %w", term, err)
	}
	f.term = term
	return nil
}

// current is the highest term seen (0: none).
func (f *fence) current() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.term
}
