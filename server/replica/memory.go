package replica

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/secretkey"
)

// ErrNotLeader is what Memory's Apply returns while SetLeader(false).
var ErrNotLeader = errors.New("replica: not the leader")

// Memory is a Store without raft: commands go straight into a real FSM, so
// a controller under test meets the same validation as in production. The
// clock only moves when the test moves it, leadership is a switch, and Fail
// makes chosen commands fail as a lost quorum would.
type Memory struct {
	FSM *fsm.FSM
	// Keys opens sealed cluster secrets (nil: only those in the clear).
	Keys *secretkey.Keyring

	mu      sync.Mutex
	now     time.Time
	leader  bool
	term    uint64
	fail    func(fsm.Command) error
	applied []fsm.Command
	server  string
}

// NewMemory returns a leading store with an empty state and the clock at
// a fixed instant, as raft server "s1": like a running server's, its
// Apply stamps that id into the commands it commits (fsm.Stamp).
func NewMemory() *Memory {
	return &Memory{FSM: fsm.New(), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), leader: true, term: 1, server: "s1"}
}

// SetServer changes the server id Apply stamps (another server took over
// as leader); "" stamps none, as a server older than the stamp did.
func (m *Memory) SetServer(id string) {
	m.mu.Lock()
	m.server = id
	m.mu.Unlock()
}

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	leader, fail, server := m.leader, m.fail, m.server
	m.mu.Unlock()
	if !leader {
		return nil, ErrNotLeader
	}
	fsm.Stamp(cmd, server)
	if fail != nil {
		if err := fail(cmd); err != nil {
			return nil, err
		}
	}
	res := m.FSM.Apply(cmd)
	if res.Err == nil {
		m.mu.Lock()
		m.applied = append(m.applied, cmd)
		m.mu.Unlock()
	}
	return res.Value, res.Err
}

// Read implements Store.
func (m *Memory) Read(fn func(*fsm.State)) { m.FSM.Read(fn) }

// Work implements Store.
func (m *Memory) Work(depth int) *fsm.Work { return m.FSM.Work(depth) }

// Changed implements Store.
func (m *Memory) Changed() <-chan struct{} { return m.FSM.Changed() }

// IsLeader implements Store.
func (m *Memory) IsLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leader
}

// Term implements Store.
func (m *Memory) Term() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.term
}

// SetTerm sets the term a later leadership is in (a new election).
func (m *Memory) SetTerm(term uint64) {
	m.mu.Lock()
	m.term = term
	m.mu.Unlock()
}

// Now implements Store.
func (m *Memory) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// ClusterSecrets implements Store.
func (m *Memory) ClusterSecrets() (model.ClusterSecrets, error) {
	var sec model.ClusterSecrets
	m.FSM.Read(func(st *fsm.State) { sec = st.Secrets })
	return m.Keys.OpenClusterSecrets(sec)
}

// Advance moves the clock forward.
func (m *Memory) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}

// SetLeader switches leadership; a follower's Apply fails with ErrNotLeader.
func (m *Memory) SetLeader(leading bool) {
	m.mu.Lock()
	m.leader = leading
	m.mu.Unlock()
}

// Fail installs a hook that may refuse a command before it reaches the
// FSM (nil removes it).
func (m *Memory) Fail(hook func(fsm.Command) error) {
	m.mu.Lock()
	m.fail = hook
	m.mu.Unlock()
}

// Applied returns the commands committed so far, in order, and forgets
// them, so a test can assert what one pass wrote.
func (m *Memory) Applied() []fsm.Command {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.applied
	m.applied = nil
	return out
}

var _ Store = (*Memory)(nil)
