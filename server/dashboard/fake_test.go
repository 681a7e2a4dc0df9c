package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// fakeSource is a state that tests change by hand, with tokens
// "tok-<tenant>" for each tenant.
type fakeSource struct {
	mu sync.Mutex
	st *fsm.State
	ch chan struct{}
}

func newFake(tree topology.FatTree, tenants ...model.Tenant) *fakeSource {
	st := fsm.NewState()
	for _, h := range tree.Hosts() {
		st.Nodes[h.Name] = &model.Node{Name: h.Name, Leaf: h.Leaf, State: model.NodeReady}
	}
	for _, t := range tenants {
		st.Tenants[t.Name] = &t
	}
	return &fakeSource{st: st, ch: make(chan struct{})}
}

func (f *fakeSource) Read(fn func(*fsm.State)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.st)
}

func (f *fakeSource) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *fakeSource) TenantForToken(tok string) *model.Tenant {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.st.Tenants {
		if tok == "tok-"+t.Name {
			c := *t
			return &c
		}
	}
	return nil
}

// update changes the state the way an FSM apply does: under the lock, then
// closing the changed channel.
func (f *fakeSource) update(fn func(st *fsm.State)) {
	f.mu.Lock()
	fn(f.st)
	f.st.Index++
	ch := f.ch
	f.ch = make(chan struct{})
	f.mu.Unlock()
	close(ch)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// submit adds a pending job and returns its id.
func submit(st *fsm.State, tenant, name string, n int) uint64 {
	id := st.NextJobID
	st.NextJobID++
	st.Jobs[id] = &model.Job{ID: id, Name: name, Tenant: tenant, NumNodes: n, TimeLimit: time.Hour,
		Argv: []string{"true"}, State: model.JobPending, SubmitTime: t0}
	return id
}

// run starts job id on the named nodes.
func run(st *fsm.State, id uint64, nodes ...string) {
	j := st.Jobs[id]
	j.State, j.Nodes, j.StartTime = model.JobRunning, nodes, t0.Add(time.Minute)
	for _, n := range nodes {
		st.Nodes[n].State, st.Nodes[n].JobID = model.NodeAllocated, id
	}
}

func nodeNames(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("node%03d", i))
	}
	return out
}

var (
	admin = model.Tenant{Name: "admin", Admin: true}
	alice = model.Tenant{Name: "alice"}
	bob   = model.Tenant{Name: "bob"}
)

func newHandler(src Source, opts Options) http.Handler {
	opts.now = func() time.Time { return t0.Add(time.Hour) }
	mux := http.NewServeMux()
	New(src, opts).Mount(mux)
	return mux
}

// get requests path with token ("" for none) and returns the response.
func get(t *testing.T, h http.Handler, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
