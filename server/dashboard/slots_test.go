package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

func TestNodeSlotsCarryFleetDataForAdmins(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin, alice)
	src.update(func(st *fsm.State) {
		n := st.Nodes["node007"]
		n.Inventory = `{"hcas":[{"name":"mlx5_0","fw_version":"28.39.1002","psid":"MT_0000000838"}],"bmc_firmware":[{"name":"BMC","version":"1.2"}],"power_state":"On"}`
		n.Image = "rocky9:1"
		n.Task = &model.NodeTask{ID: "t1", Kind: model.TaskImage, Image: "rocky9:2", Started: t0}
		n.Cleaning = []model.TaskKind{model.TaskErase}
		st.Images["rocky9:1"] = model.Image{Name: "rocky9", Version: "1", SHA256: "abc123"}
		for i := 0; i < 25; i++ {
			st.Ledger["node007"] = append(st.Ledger["node007"], model.LedgerEntry{Time: t0.Add(time.Duration(i) * time.Minute),
				Step: []string{"erase", "firmware", "cleaned"}[i%3], Actor: "ibexd", OK: true, Evidence: fmt.Sprint("step ", i)})
		}
		last := &st.Ledger["node007"][24] // written by a version that records the step's span
		last.Start, last.End, last.Actor = last.Time.Add(-90*time.Second), last.Time, "server s1"
	})
	h := newHandler(src, Options{})

	w := get(t, h, "/api/v1/nodes/node007", "tok-admin")
	var d struct {
		Restricted bool            `json:"restricted"`
		Hardware   json.RawMessage `json:"hardware"`
		Firmware   *FirmwareSlot   `json:"firmware"`
		Image      *ImageSlot      `json:"image"`
		Hygiene    *HygieneSlot    `json:"hygiene"`
		Task       *TaskBrief      `json:"task"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Restricted || !strings.Contains(string(d.Hardware), `"power_state":"On"`) {
		t.Errorf("hardware %s (restricted %v)", d.Hardware, d.Restricted)
	}
	if d.Firmware == nil || d.Firmware.HCAs["mlx5_0"] != "28.39.1002 (MT_0000000838)" || d.Firmware.BMC["BMC"].Version != "1.2" ||
		d.Firmware.LastCheck == nil || d.Firmware.LastCheck.Evidence != "step 22" {
		t.Errorf("firmware %+v", d.Firmware)
	}
	if d.Image == nil || d.Image.Verified != "rocky9:1" || d.Image.SHA256 != "abc123" || d.Image.Writing != "rocky9:2" {
		t.Errorf("image %+v", d.Image)
	}
	if h := d.Hygiene; h == nil || h.Entries != 25 || len(h.Ledger) != maxLedger || h.Ledger[maxLedger-1].Evidence != "step 24" || h.CleaningDone[0] != "erase" {
		t.Errorf("hygiene %+v", d.Hygiene)
	}
	if l := d.Hygiene.Ledger; len(l) == maxLedger && (l[maxLedger-1].End.Sub(l[maxLedger-1].Start) != 90*time.Second || !l[0].Start.IsZero()) {
		t.Errorf("ledger spans: last %+v, first %+v", l[maxLedger-1], l[0])
	}
	if !strings.Contains(w.Body.String(), `"start":"`) || strings.Count(w.Body.String(), `"start":"`) != 1 {
		t.Errorf("want exactly one ledger row with a start: %s", w.Body)
	}
	if d.Task == nil || d.Task.Kind != "image" {
		t.Errorf("task %+v", d.Task)
	}

	w = get(t, h, "/api/v1/nodes/node007", "tok-alice")
	for _, want := range []string{`"restricted":true`, `"hardware":null`, `"firmware":null`, `"image":null`, `"hygiene":null`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("alice's node detail lacks %s: %s", want, w.Body)
		}
	}

	// A node nothing has reported on has null slots, even for an admin.
	w = get(t, h, "/api/v1/nodes/node001", "tok-admin")
	for _, want := range []string{`"restricted":false`, `"hardware":null`, `"firmware":null`, `"image":null`, `"hygiene":null`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("bare node detail lacks %s: %s", want, w.Body)
		}
	}
}

// TestFirmwareSlotKeyedByID: BMC firmware is keyed by inventory Id, not by
// name. An iLO 5 names all its NICs "Network Controller" and all its GPUs
// alike; keyed by name, 27 entries showed as 16.
func TestFirmwareSlotKeyedByID(t *testing.T) {
	type entry struct {
		ID      string `json:"id,omitempty"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Known   bool   `json:"known,omitempty"`
	}
	var entries []entry
	add := func(n int, name, version string, known bool) {
		for range n {
			entries = append(entries, entry{ID: fmt.Sprint(len(entries) + 1), Name: name, Version: version, Known: known})
		}
	}
	add(1, "iLO 5", "2.70 May 16 2022", true)
	add(1, "System ROM", "A47 v2.62 (03/08/2022)", true)
	add(8, "NVIDIA A100-SXM4-40GB", "92.00.45.00.05", true)
	add(2, "Network Controller", "N/A", false)
	add(6, "NVSwitch", "2.0.5", true)
	add(4, "Embedded Video Controller", "2.5", true)
	add(5, "Drive", "HPD3", true)
	// An older agent sent no Id: two of those share a name.
	entries = append(entries, entry{Name: "Power Supply", Version: "1.00", Known: true}, entry{Name: "Power Supply", Version: "1.01", Known: true})
	inv, err := json.Marshal(map[string]any{"bmc_firmware": entries})
	if err != nil {
		t.Fatal(err)
	}
	src := newFake(topology.DefaultFatTree, admin, alice)
	src.update(func(st *fsm.State) { st.Nodes["node007"].Inventory = string(inv) })
	w := get(t, newHandler(src, Options{}), "/api/v1/nodes/node007", "tok-admin")
	var d struct {
		Firmware *FirmwareSlot `json:"firmware"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Firmware == nil || len(d.Firmware.BMC) != len(entries) {
		t.Fatalf("%d BMC entries shown, want %d: %+v", len(d.Firmware.BMC), len(entries), d.Firmware)
	}
	for _, e := range entries[:27] {
		got := d.Firmware.BMC[e.ID]
		if got.Name != e.Name || got.Version != e.Version || got.Known != e.Known {
			t.Errorf("entry %s = %+v, want %+v", e.ID, got, e)
		}
	}
	if a, b := d.Firmware.BMC["Power Supply"], d.Firmware.BMC["Power Supply#2"]; a.Version != "1.00" || b.Version != "1.01" {
		t.Errorf("entries without an Id: %+v, %+v", a, b)
	}
}
