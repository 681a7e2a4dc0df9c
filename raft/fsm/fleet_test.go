package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func enrolled(t *testing.T, f *FSM, node string) {
	t.Helper()
	must(t, f.Apply(&CreateJoinToken{Node: node, Hash: "tok-" + node, Expires: t0.Add(time.Hour)}))
	must(t, f.Apply(&Enroll{Node: node, TokenHash: "tok-" + node, CertSerial: "serial-" + node, Time: t0}))
}

func TestJoinTokensAreSingleUseAndBound(t *testing.T) {
	f := harness(t, 2)
	must(t, f.Apply(&CreateJoinToken{Node: "node001", Hash: "h", Expires: t0.Add(time.Hour)}))
	if r := f.Apply(&Enroll{Node: "node002", TokenHash: "h", Time: t0}); !errors.Is(r.Err, ErrPermissionDenied) {
		t.Fatalf("token used for another node: %v", r.Err)
	}
	must(t, f.Apply(&Enroll{Node: "node001", TokenHash: "h", CertSerial: "1", Time: t0}))
	if r := f.Apply(&Enroll{Node: "node001", TokenHash: "h", CertSerial: "2", Time: t0}); !errors.Is(r.Err, ErrPermissionDenied) {
		t.Fatalf("token reused: %v", r.Err)
	}
	must(t, f.Apply(&CreateJoinToken{Node: "node002", Hash: "old", Expires: t0}))
	if r := f.Apply(&Enroll{Node: "node002", TokenHash: "old", Time: t0.Add(time.Second)}); !errors.Is(r.Err, ErrPermissionDenied) {
		t.Fatalf("expired token accepted: %v", r.Err)
	}
	must(t, f.Apply(&RevokeAgent{Node: "node001", Reason: "stolen", By: "admin", Time: t0}))
	s := f.View()
	if s.Revoked["1"] == "" || !s.Nodes["node001"].Drained {
		t.Fatalf("revocation not recorded: %+v", s.Nodes["node001"])
	}
}

// TestAgentNodeNeedsCompleteCleaning: a node with an agent goes from its
// job to ready only with erase and firmware records, and a failed firmware
// task quarantines it.
func TestAgentNodeNeedsCompleteCleaning(t *testing.T) {
	f := harness(t, 2)
	enrolled(t, f, "node001")
	if n := f.View().Nodes["node001"]; n.State != model.NodeCleaning {
		t.Fatalf("a newly enrolled node is %s; it must be cleaned before first use", n.State)
	}
	for _, kind := range []model.TaskKind{model.TaskErase, model.TaskFirmware} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: string(kind) + "-0", Kind: kind}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: string(kind) + "-0", OK: true, Evidence: "{}"}))
	}
	must(t, f.Apply(&NodeCleaned{Node: "node001", Evidence: "first cleaning"}))
	id := submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}}))
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted}))
	clean := &NodeCleaned{Node: "node001", JobID: id, Evidence: "pkey gone"}
	if r := f.Apply(clean); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("agent node cleaned without erase/firmware: %v", r.Err)
	}
	for _, kind := range []model.TaskKind{model.TaskErase, model.TaskFirmware} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: string(kind) + "-1", Kind: kind}}))
		if r := f.Apply(clean); !errors.Is(r.Err, ErrConflict) {
			t.Fatalf("cleaned while task %s runs: %v", kind, r.Err)
		}
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: string(kind) + "-1", OK: true, Evidence: "{}"}))
	}
	must(t, f.Apply(clean))
	led := f.View().Ledger["node001"]
	var steps []string
	for _, e := range led {
		steps = append(steps, e.Step)
	}
	if strings.Join(steps, ",") != "enroll,erase,firmware,cleaned,erase,firmware,cleaned" {
		t.Fatalf("ledger steps %v", steps)
	}

	id = submit(t, f, "alice", 1)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}}))
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted}))
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "fw-2", Kind: model.TaskFirmware}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "fw-2", OK: false, Quarantine: true, Error: "running 20.1 != pinned 20.2 after reset"}))
	n := f.View().Nodes["node001"]
	if n.State != model.NodeQuarantined || !strings.Contains(n.Reason, "firmware") || n.Schedulable() {
		t.Fatalf("failed flash: %+v", n)
	}
	must(t, f.Apply(&UndrainNode{Node: "node001"}))
	if n := f.View().Nodes["node001"]; n.State != model.NodeCleaning {
		t.Fatalf("released quarantine goes to %s, want cleaning", n.State)
	}
}

func TestNodeDownFailsJobAndFlapsDrain(t *testing.T) {
	f := harness(t, 2)
	id := submit(t, f, "alice", 2)
	must(t, f.Apply(&Allocate{JobID: id, Nodes: []string{"node001", "node002"}}))
	must(t, f.Apply(&NodeDown{Node: "node002", Reason: "gossip: agent dead", Time: t0}))
	s := f.View()
	if j := s.Jobs[id]; j.State != model.JobFailed || !strings.Contains(j.Reason, "node002 went down") {
		t.Fatalf("job after node loss: %+v", j)
	}
	if s.Nodes["node001"].State != model.NodeCleaning || s.Nodes["node002"].State != model.NodeDown {
		t.Fatalf("nodes: %s %s", s.Nodes["node001"].State, s.Nodes["node002"].State)
	}
	must(t, f.Apply(&NodeUp{Node: "node002", Time: t0.Add(time.Minute)}))
	if n := f.View().Nodes["node002"]; n.State != model.NodeCleaning {
		t.Fatalf("node back from down is %s, want cleaning", n.State)
	}
	for i := 2; i <= FlapLimit; i++ {
		must(t, f.Apply(&NodeDown{Node: "node002", Reason: "x", Time: t0.Add(time.Duration(i) * time.Minute)}))
		must(t, f.Apply(&NodeUp{Node: "node002", Time: t0.Add(time.Duration(i)*time.Minute + time.Second)}))
	}
	if n := f.View().Nodes["node002"]; !n.Drained || !strings.Contains(n.DrainNote, "flapping") {
		t.Fatalf("flapping node not drained: %+v", n)
	}
}
