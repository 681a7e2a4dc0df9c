package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNextStep(t *testing.T) {
	withImage := CleaningPolicy{Image: "rocky9:2"}
	agent := &Agent{CertSerial: "1"}
	for _, tc := range []struct {
		name   string
		node   Node
		policy CleaningPolicy
		want   TaskKind // "" means done
	}{
		{"no agent: the local executor cleans", Node{}, withImage, ""},
		{"nothing done: erase first", Node{Agent: agent}, withImage, TaskErase},
		{"erased: firmware next", Node{Agent: agent, Cleaning: []TaskKind{TaskErase}}, withImage, TaskFirmware},
		{"firmware alone does not skip erase", Node{Agent: agent, Cleaning: []TaskKind{TaskFirmware}}, withImage, TaskErase},
		{"erased and verified: the image", Node{Agent: agent, Cleaning: []TaskKind{TaskErase, TaskFirmware}}, withImage, TaskImage},
		{"an old image is not the policy's", Node{Agent: agent, Cleaning: []TaskKind{TaskErase, TaskFirmware, TaskImage}, Image: "rocky9:1"}, withImage, TaskImage},
		{"all done", Node{Agent: agent, Cleaning: []TaskKind{TaskErase, TaskFirmware}, Image: "rocky9:2"}, withImage, ""},
		{"no image in the policy", Node{Agent: agent, Cleaning: []TaskKind{TaskErase, TaskFirmware}}, CleaningPolicy{}, ""},
		{"no image in the policy, firmware missing", Node{Agent: agent, Cleaning: []TaskKind{TaskErase}}, CleaningPolicy{}, TaskFirmware},
	} {
		k, done := NextStep(&tc.node, tc.policy)
		if done != (tc.want == "") || k != tc.want {
			t.Errorf("%s: NextStep = %q, %v; want %q", tc.name, k, done, tc.want)
		}
	}
}

func TestGaveUp(t *testing.T) {
	n := &Node{StepFailures: map[TaskKind]int{TaskErase: MaxStepFailures - 1, TaskFirmware: MaxStepFailures}}
	if GaveUp(n, TaskErase) || !GaveUp(n, TaskFirmware) || GaveUp(n, TaskImage) {
		t.Fatalf("GaveUp wrong for %v", n.StepFailures)
	}
}

func TestCheckKeyGone(t *testing.T) {
	began := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	after, before := began.Add(time.Second), began.Add(-time.Second)
	keyed := &Node{LastPKey: 0x10, StateSince: began}
	port := func(g string, at time.Time, absent bool) PortCheck {
		return PortCheck{GUID: g, ObservedAt: at, Absent: absent, Table: "0x7fff"}
	}
	for _, tc := range []struct {
		name string
		node *Node
		c    PKeyCheck
		err  string // "" means accepted
	}{
		{"no key to remove", &Node{}, PKeyCheck{}, ""},
		{"no fabric, no key", &Node{}, PKeyCheck{NoFabric: true}, ""},
		{"absent on every port", keyed, PKeyCheck{PKey: 0x10, Ports: []PortCheck{port("a", after, true), port("b", after, true)}}, ""},
		{"no fabric cannot prove a key gone", keyed, PKeyCheck{NoFabric: true}, "cannot prove"},
		{"another key", keyed, PKeyCheck{PKey: 0x11, Ports: []PortCheck{port("a", after, true)}}, "the last job had"},
		{"no port", keyed, PKeyCheck{PKey: 0x10}, "no port"},
		{"still on one port", keyed, PKeyCheck{PKey: 0x10, Ports: []PortCheck{port("a", after, true), port("b", after, false)}}, "still on port b"},
		{"read while the job ran", keyed, PKeyCheck{PKey: 0x10, Ports: []PortCheck{port("a", before, true)}}, "before the cleaning began"},
	} {
		err := CheckKeyGone(tc.node, tc.c)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

// The task kinds are JSON strings in logs, snapshots and agent journals.
func TestTaskKindJSON(t *testing.T) {
	b, _ := json.Marshal(NodeTask{ID: "x", Kind: TaskFirmware})
	if !strings.Contains(string(b), `"kind":"firmware"`) {
		t.Fatal(string(b))
	}
	var n Node
	if err := json.Unmarshal([]byte(`{"cleaning":["erase","image"]}`), &n); err != nil || n.Cleaning[1] != TaskImage {
		t.Fatal(n.Cleaning, err)
	}
}
