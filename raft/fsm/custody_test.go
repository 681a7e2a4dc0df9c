package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

var s1 = Origin{Server: "s1"}

// cleaningWithTask leaves node001 (agent "serial-node001") cleaning with
// erase task "e1" started at t0.
func cleaningWithTask(t *testing.T) *FSM {
	t.Helper()
	f := harness(t, 2)
	enrolled(t, f, "node001")
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e1", Kind: model.TaskErase, Started: t0}}))
	return f
}

func checkChain(t *testing.T, f *FSM, node string) {
	t.Helper()
	l := f.View().Ledger[node]
	if n, err := model.VerifyChain(l); err != nil || n != len(l) {
		t.Fatalf("%s's chain: %d of %d verified: %v", node, n, len(l), err)
	}
}

// TestServerIsTheActor: an entry the leader's own loop writes names the
// leader's server id; a command from a leader that stamped none (an old
// log) still writes "ibexd", without times, as it did.
func TestServerIsTheActor(t *testing.T) {
	for _, tc := range []struct {
		origin    Origin
		actor     string
		wantTimes bool
	}{{s1, "server s1", true}, {Origin{}, "ibexd", false}} {
		f := harness(t, 1)
		must(t, f.Apply(&QuarantineNode{Node: "node001", Reason: "operator", Time: t0, Origin: tc.origin}))
		e := lastEntry(f, "node001")
		if e.Actor != tc.actor || (!e.Start.IsZero()) != tc.wantTimes || (!e.End.IsZero()) != tc.wantTimes {
			t.Errorf("origin %q: actor %q start %v end %v, want %q (times %v)", tc.origin.Server, e.Actor, e.Start, e.End, tc.actor, tc.wantTimes)
		}
		checkChain(t, f, "node001")
	}
	// Qualified actors keep their qualifier; admins and agents stay themselves.
	for in, want := range map[string]string{"ibexd": "server s1", "ibexd (fabric import)": "server s1 (fabric import)",
		"ibexd/fabric-health": "server s1/fabric-health", "gossip": "server s1 (gossip)", "alice": "alice", "agent 0a": "agent 0a", "ibexdx": "ibexdx"} {
		if got := serverActor(in, "s1"); got != want {
			t.Errorf("serverActor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEntriesSpanTheirStep: a task's entry starts when the task was
// started and ends when its result came; a cleaning's "cleaned" starts
// when the cleaning began. Clocks of two leaders that disagree never make
// an entry end before it starts.
func TestEntriesSpanTheirStep(t *testing.T) {
	f := cleaningWithTask(t)
	done := t0.Add(90 * time.Second)
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e1", OK: true, Evidence: "{}", Time: done, Origin: s1}))
	e := lastEntry(f, "node001")
	if e.Step != "erase" || !e.Start.Equal(t0) || !e.End.Equal(done) || e.Actor != "agent serial-node001" {
		t.Fatalf("erase entry: %+v", e)
	}
	// The next task was started by a leader whose clock runs ahead.
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "f1", Kind: model.TaskFirmware, Started: done.Add(time.Hour)}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "f1", OK: true, Evidence: "{}", Time: done.Add(time.Second), Origin: Origin{Server: "s2"}}))
	e = lastEntry(f, "node001")
	if e.Start.After(e.End) || !e.End.Equal(done.Add(time.Second)) {
		t.Fatalf("skewed clocks: start %v end %v", e.Start, e.End)
	}
	// Every stamped entry: start <= end.
	for _, e := range f.View().Ledger["node001"] {
		if !e.Start.IsZero() && e.End.Before(e.Start) {
			t.Errorf("entry %d (%s) ends before it starts", e.Seq, e.Step)
		}
	}
	checkChain(t, f, "node001")
}

// TestLostAttemptsAreEntries: an agent task dispatched and then lost with
// its node, its agent or a quarantine is an interrupted entry, with its
// start, when it was given up and who gave it up; an old log's commands
// still drop it without one.
func TestLostAttemptsAreEntries(t *testing.T) {
	lose := map[string]func(f *FSM, o Origin) Result{
		"node down": func(f *FSM, o Origin) Result {
			return f.Apply(&NodeDown{Node: "node001", Reason: "agent left the gossip pool", Time: t0.Add(time.Minute), Origin: o})
		},
		"quarantined": func(f *FSM, o Origin) Result {
			return f.Apply(&QuarantineNode{Node: "node001", Reason: "operator", Time: t0.Add(time.Minute), Origin: o})
		},
		"agent revoked": func(f *FSM, o Origin) Result {
			return f.Apply(&RevokeAgent{Node: "node001", Reason: "stolen", By: "admin", Time: t0.Add(time.Minute), Origin: o})
		},
		"agent re-enrolled": func(f *FSM, o Origin) Result {
			must(t, f.Apply(&CreateJoinToken{Node: "node001", Hash: "again", Expires: t0.Add(time.Hour)}))
			return f.Apply(&Enroll{Node: "node001", TokenHash: "again", CertSerial: "new", Time: t0.Add(time.Minute), Origin: o})
		},
		"given up": func(f *FSM, o Origin) Result {
			return f.Apply(&InterruptTask{Node: "node001", TaskID: "e1", Reason: "no result within 4h0m0s", Time: t0.Add(time.Minute), Origin: o})
		},
	}
	for name, do := range lose {
		t.Run(name, func(t *testing.T) {
			f := cleaningWithTask(t)
			must(t, do(f, s1))
			var found *model.LedgerEntry
			for _, e := range f.View().Ledger["node001"] {
				if e.Step == model.Interrupted("erase") {
					found = &e
				}
			}
			if found == nil {
				t.Fatalf("no interrupted entry: %+v", f.View().Ledger["node001"])
			}
			if !found.Start.Equal(t0) || !found.End.Equal(t0.Add(time.Minute)) || found.OK || found.Actor != "server s1" ||
				!strings.Contains(found.Evidence, "task e1 (agent serial-node001)") {
				t.Fatalf("interrupted entry: %+v", *found)
			}
			if n := f.View().Nodes["node001"]; n.Task != nil {
				t.Fatalf("the lost task is still running: %+v", n.Task)
			}
			checkChain(t, f, "node001")
		})
	}
	// Replaying an old log (no server stamped): no new entry, as before.
	for _, name := range []string{"node down", "quarantined"} {
		f := cleaningWithTask(t)
		must(t, lose[name](f, Origin{}))
		for _, e := range f.View().Ledger["node001"] {
			if strings.HasSuffix(e.Step, model.InterruptedSuffix) {
				t.Errorf("%s, unstamped: %+v", name, e)
			}
		}
	}
}

// TestInterruptTask: the leader gives up only the task that runs, with a
// reason; the attempt counts as a failed one, so a step that never ends
// is retried MaxStepFailures times and not forever.
func TestInterruptTask(t *testing.T) {
	f := cleaningWithTask(t)
	if r := f.Apply(&InterruptTask{Node: "node001", TaskID: "other", Reason: "x", Time: t0, Origin: s1}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("another task: %v", r.Err)
	}
	if r := f.Apply(&InterruptTask{Node: "node001", TaskID: "e1", Time: t0, Origin: s1}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("no reason: %v", r.Err)
	}
	if r := f.Apply(&InterruptTask{Node: "node001", TaskID: "e1", Reason: strings.Repeat("x", maxInterruptReason+1), Time: t0, Origin: s1}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("reason too long: %v", r.Err)
	}
	if n := f.View().Nodes["node001"]; n.Task == nil || len(f.View().Ledger["node001"]) != 1 {
		t.Fatal("a refused InterruptTask changed the state")
	}
	for i := range model.MaxStepFailures {
		if i > 0 {
			must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e1", Kind: model.TaskErase, Started: t0}}))
		}
		must(t, f.Apply(&InterruptTask{Node: "node001", TaskID: "e1", Reason: "timed out", Time: t0.Add(time.Hour), Origin: s1}))
	}
	if r := f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e2", Kind: model.TaskErase}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("retried past the limit: %v", r.Err)
	}
	checkChain(t, f, "node001")
}

// TestLostHandoutChecks: a hand-out check nobody answers, one a new check
// replaces after its leader went away, and one whose node goes down are
// interrupted entries with the check's start.
func TestLostHandoutChecks(t *testing.T) {
	img, _ := testImage(t)
	c := model.Challenge{Nonce: nonceA}
	start := func(f *FSM, id string, at time.Time) {
		t.Helper()
		must(t, f.Apply(&StartHandoutCheck{Node: "node001", Check: model.Handout{ID: id, Challenge: &c, Started: at}, Origin: s1}))
	}
	want := func(f *FSM, id string, started, ended time.Time, why string) {
		t.Helper()
		for _, e := range f.View().Ledger["node001"] {
			if e.Step == model.Interrupted(HandoutStep) && strings.Contains(e.Evidence, "check "+id+" ") {
				if !e.Start.Equal(started) || !e.End.Equal(ended) || e.Actor != "server s1" || !strings.Contains(e.Evidence, why) {
					t.Fatalf("entry: %+v", e)
				}
				checkChain(t, f, "node001")
				return
			}
		}
		t.Fatalf("no interrupted entry for %s: %+v", id, f.View().Ledger["node001"])
	}

	f := harness(t, 1)
	readyAgentNode(t, f, img)
	start(f, "h1", t0)
	must(t, f.Apply(&HandoutChecked{Node: "node001", ID: "h1", Abandoned: true, Time: t0.Add(model.HandoutTimeout), Origin: s1}))
	want(f, "h1", t0, t0.Add(model.HandoutTimeout), "no answer from the agent")

	start(f, "h2", t0.Add(2*model.HandoutTimeout))
	start(f, "h3", t0.Add(4*model.HandoutTimeout)) // h2's leader never abandoned it
	want(f, "h2", t0.Add(2*model.HandoutTimeout), t0.Add(4*model.HandoutTimeout), "replaced by check h3")

	must(t, f.Apply(&NodeDown{Node: "node001", Reason: "agent dead", Time: t0.Add(5 * model.HandoutTimeout), Origin: s1}))
	want(f, "h3", t0.Add(4*model.HandoutTimeout), t0.Add(5*model.HandoutTimeout), "went down")
	if f.View().Nodes["node001"].Handout != nil {
		t.Fatal("the down node's check still runs")
	}
}

// TestLabelIsAnOverride: an admin's labelling names the admin in the
// ledger; one from an old log (no admin named) writes nothing.
func TestLabelIsAnOverride(t *testing.T) {
	f := harness(t, 1)
	must(t, f.Apply(&LabelNode{Node: "node001", Features: []string{"gpu"}}))
	if l := f.View().Ledger["node001"]; len(l) != 0 {
		t.Fatalf("old labelling wrote %+v", l)
	}
	must(t, f.Apply(&LabelNode{Node: "node001", Features: []string{"a100", "gpu"}, By: "root", Time: t0, Origin: s1}))
	if e := lastEntry(f, "node001"); e.Step != "label" || e.Actor != "root" || e.Evidence != "features [a100,gpu] (were [gpu])" || !e.Start.Equal(t0) {
		t.Fatalf("label entry: %+v", e)
	}
}

// TestAgentRestartMidTaskIsAnEntry: an agent that died in the middle of
// a task and ran it again from scratch says so in its answer; the lost
// run is an interrupted entry before the result, the agent's times held
// within the task's span on the server's clock.
func TestAgentRestartMidTaskIsAnEntry(t *testing.T) {
	f := cleaningWithTask(t)
	done := t0.Add(time.Minute)
	answer := `{"nonce":"","reruns":{"interrupted":1,"last_started":"` + t0.Add(-time.Hour).Format(time.RFC3339Nano) +
		`","again":"` + t0.Add(20*time.Second).Format(time.RFC3339Nano) + `"}}`
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e1", OK: true, Evidence: "{}", Answer: answer, Time: done, Origin: s1}))
	l := f.View().Ledger["node001"]
	lost, result := l[len(l)-2], l[len(l)-1]
	if lost.Step != model.Interrupted("erase") || lost.OK || lost.Actor != "agent serial-node001" ||
		!lost.Start.Equal(t0) || !lost.End.Equal(t0.Add(20*time.Second)) || !strings.Contains(lost.Evidence, "1 run(s) died with the agent process") {
		t.Fatalf("lost run: %+v", lost)
	}
	if result.Step != "erase" || !result.OK {
		t.Fatalf("result: %+v", result)
	}
	checkChain(t, f, "node001")
	// A plain result adds no such entry.
	f = cleaningWithTask(t)
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e1", OK: true, Evidence: "{}", Answer: `{"nonce":""}`, Time: done, Origin: s1}))
	if l := f.View().Ledger["node001"]; l[len(l)-2].Step != "enroll" {
		t.Fatalf("entries: %+v", l)
	}
}
