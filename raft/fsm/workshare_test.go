package fsm

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// TestWorkSharesOneCopyPerGeneration: calls under one nodes generation get
// the same copies of the nodes and active jobs, never the state's own; an
// entry that changes a node gives later calls new copies and leaves the
// old ones as they were for whoever still reads them.
func TestWorkSharesOneCopyPerGeneration(t *testing.T) {
	f := harness(t, 8)
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
	w1 := f.Work(10)
	submit(t, f, "bob", 1) // node-neutral
	w2 := f.Work(10)
	if w1.NodesGen != w2.NodesGen || w1.Nodes[0] != w2.Nodes[0] || w1.Active[0] != w2.Active[0] {
		t.Fatal("two calls under one generation made separate copies")
	}
	if cap(w2.Nodes) != len(w2.Nodes) || cap(w2.Active) != len(w2.Active) {
		t.Fatal("the shared slices are not capacity-clipped: a caller's append would write into the share")
	}
	f.Read(func(s *State) {
		if s.Nodes["node001"] == w2.Nodes[0] || s.Jobs[id] == w2.Active[0] {
			t.Fatal("Work handed out the state's own node or job")
		}
	})
	must(t, f.Apply(&DrainNode{Node: "node001", Reason: "test", By: "admin", Time: t0}))
	w3 := f.Work(10)
	if w3.Nodes[0] == w1.Nodes[0] || !w3.Nodes[0].Drained {
		t.Fatal("a drain did not give Work a new copy of the nodes")
	}
	if w1.Nodes[0].Drained {
		t.Fatal("the drain reached the previous generation's copy")
	}
	if len(w2.Pending) != 1 || len(f.Work(10).Pending) != 1 {
		t.Fatalf("pending: %d, want the one unallocated job", len(w2.Pending))
	}
}

// TestPendingCopySharesOnlyImmutableFields: pendingCopy equals a deep copy,
// shares only the fields the FSM never writes in place, clipped, and
// copies the rest. Every reference field of model.Job must be classified
// here, so a new one cannot be shared by accident.
func TestPendingCopySharesOnlyImmutableFields(t *testing.T) {
	shared := map[string]bool{"Argv": true, "Env": true, "Features": true, "Links": true}
	copied := map[string]bool{"Nodes": true, "Depend": true, "ArrayPending": true, "Usage": true, "ExitCode": true}
	typ := reflect.TypeFor[model.Job]()
	for i := range typ.NumField() {
		fld := typ.Field(i)
		switch fld.Type.Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func:
			if !shared[fld.Name] && !copied[fld.Name] {
				t.Errorf("model.Job.%s is a reference: decide whether pendingCopy may share it (workshare.go) and list it here", fld.Name)
			}
		}
	}
	zero := 3
	j := &model.Job{ID: 7, Argv: make([]string, 1, 4), Env: []string{"A=1", "B=2"}, Features: []string{"gpu"}, Links: []string{"l>s"},
		Nodes: []string{"node001"}, Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: 3}},
		ArrayPending: model.IndexSet{{Lo: 1, Hi: 4}}, Usage: &model.JobUsage{CPUSeconds: 1}, ExitCode: &zero}
	j.Argv[0] = "true"
	c := pendingCopy(j)
	if !reflect.DeepEqual(c, j.Clone()) {
		t.Fatalf("pendingCopy differs from a deep copy:\n%+v\n%+v", c, j.Clone())
	}
	jv, cv := reflect.ValueOf(j).Elem(), reflect.ValueOf(c).Elem()
	for name := range copied {
		a, b := jv.FieldByName(name), cv.FieldByName(name)
		if a.IsNil() {
			t.Fatalf("test job leaves %s empty: it checks nothing", name)
		}
		if a.Pointer() == b.Pointer() {
			t.Errorf("pendingCopy shares %s, which the FSM may change in place", name)
		}
	}
	for name := range shared {
		if b := cv.FieldByName(name); b.Len() != b.Cap() {
			t.Errorf("pendingCopy's %s has room to append into the state's array", name)
		}
	}
	c.Argv = append(c.Argv, "x")
	if j.Argv[:2][1] == "x" {
		t.Fatal("an append to the copy's Argv wrote into the job's")
	}
}

// TestCheckSharedViewsCatchesWrites: with the checker on, a caller writing
// into a shared node, active job or pending job's environment makes the
// next Work or apply panic; reading does not.
func TestCheckSharedViewsCatchesWrites(t *testing.T) {
	CheckSharedViews(true)
	defer CheckSharedViews(false)
	panics := func(fn func()) (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = r.(string)
			}
		}()
		fn()
		return ""
	}
	for _, tc := range []struct {
		name, want string
		write      func(w *Work)
	}{
		{"none", "", func(*Work) {}},
		{"node", "node node002", func(w *Work) { w.Nodes[1].Drained = true }},
		{"node features", "node node001", func(w *Work) { w.Nodes[0].Features = append(w.Nodes[0].Features, "x") }},
		{"node of a passed generation", "node node003", func(w *Work) {
			w.Nodes[2].Drained = true // w's generation has passed: see below
		}},
		{"active job", "active job 1", func(w *Work) { w.Active[0].Reason = "x" }},
		{"pending env", "pending job 2", func(w *Work) { w.Pending[0].Env[0] = "A=2" }},
		{"pending argv", "pending job 2", func(w *Work) { w.Pending[0].Argv[0] = "false" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := harness(t, 4)
			id := submit(t, f, "alice", 1)
			must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}))
			submitJob(t, f, model.Job{Env: []string{"A=1"}})
			w := f.Work(10)
			if strings.Contains(tc.name, "passed") {
				must(t, f.Apply(&DrainNode{Node: "node004", Reason: "test", By: "admin", Time: t0}))
				if f.Work(10).NodesGen == w.NodesGen {
					t.Fatal("a drain kept the generation")
				}
			}
			tc.write(w)
			for _, next := range []func(){func() { f.Work(10) }, func() { submit(t, f, "bob", 1) }} {
				got := panics(next)
				if tc.want == "" && got != "" {
					t.Fatalf("no write, yet the checker says %q", got)
				}
				if tc.want != "" && !strings.Contains(got, tc.want) {
					t.Fatalf("checker says %q, want a panic naming %q", got, tc.want)
				}
			}
		})
	}
}
