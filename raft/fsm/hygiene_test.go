package fsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// keyedCleaning leaves node001 cleaning after a job with partition key
// 0x10 that ended at t0+1m.
func keyedCleaning(t *testing.T) (*FSM, uint64) {
	t.Helper()
	f := harness(t, 2)
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, PKey: 0x10, Time: t0}))
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, Time: t0.Add(time.Minute)}))
	return f, id
}

func TestNodeCleanedNeedsTheKeyGone(t *testing.T) {
	f, id := keyedCleaning(t)
	ended := t0.Add(time.Minute)
	port := func(g string, at time.Time, absent bool) model.PortCheck {
		return model.PortCheck{GUID: g, ObservedAt: at, Absent: absent, Table: "0x7fff"}
	}
	for name, c := range map[string]model.PKeyCheck{
		"no fabric":         {NoFabric: true},
		"nothing checked":   {PKey: 0x10},
		"wrong key":         {PKey: 0x11, Ports: []model.PortCheck{port("0x1", ended.Add(time.Second), true)}},
		"key still there":   {PKey: 0x10, Ports: []model.PortCheck{port("0x1", ended.Add(time.Second), true), port("0x2", ended.Add(time.Second), false)}},
		"read during job":   {PKey: 0x10, Ports: []model.PortCheck{port("0x1", ended.Add(-time.Second), true)}},
		"read at job's end": {PKey: 0x10, Ports: []model.PortCheck{port("0x1", ended, true)}},
	} {
		r := f.Apply(&NodeCleaned{Node: "node001", JobID: id, Evidence: "clean", PKeyCheck: &c, Time: ended.Add(time.Minute)})
		if !errors.Is(r.Err, ErrConflict) {
			t.Errorf("%s: NodeCleaned accepted or wrong error: %v", name, r.Err)
		}
	}
	if n := f.View().Nodes["node001"]; n.State != model.NodeCleaning {
		t.Fatalf("a refused NodeCleaned changed the node: %s", n.State)
	}
	good := model.PKeyCheck{PKey: 0x10, Ports: []model.PortCheck{port("0x1", ended.Add(time.Second), true), port("0x2", ended.Add(2*time.Second), true)}}
	must(t, f.Apply(&NodeCleaned{Node: "node001", JobID: id, Evidence: "clean", PKeyCheck: &good, Time: ended.Add(time.Minute)}))
	led := f.View().Ledger["node001"]
	if last := led[len(led)-1]; last.Step != "cleaned" || !strings.Contains(last.Evidence, "pkey 0x0010 absent: port 0x1") {
		t.Fatalf("ledger: %+v", last)
	}
}

// An entry written before NodeCleaned carried a check still applies, as it
// did then: its proof is only in the evidence string.
func TestOldNodeCleanedWithoutCheckStillApplies(t *testing.T) {
	f, id := keyedCleaning(t)
	entry := []byte(`{"node":"node001","job_id":1,"evidence":"no processes; pkey 0x0010 absent: port 0x1 table 0x7fff","time":"2026-11-27T08:02:00Z"}`)
	if id != 1 {
		t.Fatalf("job id %d", id)
	}
	r := f.ApplyEntry(100, append([]byte{byte(CmdNodeCleaned)}, entry...))
	if r.Err != nil || f.View().Nodes["node001"].State != model.NodeReady {
		t.Fatalf("old NodeCleaned: %v", r.Err)
	}
}

// TestStepFailuresAreReplicated: the retry count of a cleaning step lives
// in the state, survives a snapshot and restore (a new leader), and stops
// retries at the limit.
func TestStepFailuresAreReplicated(t *testing.T) {
	f := harness(t, 2)
	enrolled(t, f, "node001")
	start := func(id string) Result {
		return f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: id, Kind: model.TaskErase}})
	}
	must(t, start("e1"))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e1", OK: false, Error: "disk busy"}))
	must(t, start("e2"))
	// Losing the node mid-step counts as a failed attempt too.
	must(t, f.Apply(&NodeDown{Node: "node001", Reason: "x", Time: t0}))
	must(t, f.Apply(&NodeUp{Node: "node001", Time: t0.Add(time.Second)}))

	var buf bytes.Buffer
	if err := WriteSnapshot(&buf, f.SnapshotState()); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	n := g.View().Nodes["node001"]
	if n.StepFailures[model.TaskErase] != 2 || model.GaveUp(n, model.TaskErase) {
		t.Fatalf("after restore: failures %v", n.StepFailures)
	}
	must(t, g.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e3", Kind: model.TaskErase}}))
	must(t, g.Apply(&TaskDone{Node: "node001", TaskID: "e3", OK: false, Error: "disk busy"}))
	if n := g.View().Nodes["node001"]; !model.GaveUp(n, model.TaskErase) {
		t.Fatalf("three failures, not given up: %v", n.StepFailures)
	}
	if r := g.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e4", Kind: model.TaskErase}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("a fourth attempt was started: %v", r.Err)
	}
	must(t, g.Apply(&QuarantineNode{Node: "node001", Reason: "erase failed 3 times", Time: t0}))
	// An operator looked: the next cleaning starts with a clean count.
	must(t, g.Apply(&UndrainNode{Node: "node001", Time: t0}))
	if n := g.View().Nodes["node001"]; n.State != model.NodeCleaning || n.StepFailures != nil {
		t.Fatalf("after undrain: %s %v", n.State, n.StepFailures)
	}
	must(t, g.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e5", Kind: model.TaskErase}}))
}

func TestStartTaskRefusesUnknownKinds(t *testing.T) {
	f := harness(t, 1)
	enrolled(t, f, "node001")
	if r := f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "x", Kind: "reboot"}}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("unknown kind: %v", r.Err)
	}
}

// NodeCleaned names the step that is missing, image included.
func TestNodeCleanedNamesTheMissingStep(t *testing.T) {
	f := harness(t, 1)
	enrolled(t, f, "node001")
	must(t, f.Apply(&AddImage{Image: model.Image{Name: "rocky9", Version: "2"}}))
	clean := &NodeCleaned{Node: "node001", Image: "rocky9:2", Evidence: "x"}
	for _, k := range []model.TaskKind{model.TaskErase, model.TaskFirmware, model.TaskImage} {
		if r := f.Apply(clean); !errors.Is(r.Err, ErrConflict) || !strings.Contains(r.Err.Error(), string(k)) {
			t.Fatalf("before %s: %v", k, r.Err)
		}
		task := model.NodeTask{ID: string(k), Kind: k}
		if k == model.TaskImage {
			task.Image = "rocky9:2"
		}
		must(t, f.Apply(&StartTask{Node: "node001", Task: task}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: string(k), OK: true, Evidence: "{}"}))
	}
	must(t, f.Apply(clean))
}
