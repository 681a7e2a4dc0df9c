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
	if d.Firmware == nil || d.Firmware.HCAs["mlx5_0"] != "28.39.1002 (MT_0000000838)" || d.Firmware.BMC["BMC"] != "1.2" ||
		d.Firmware.LastCheck == nil || d.Firmware.LastCheck.Evidence != "step 22" {
		t.Errorf("firmware %+v", d.Firmware)
	}
	if d.Image == nil || d.Image.Verified != "rocky9:1" || d.Image.SHA256 != "abc123" || d.Image.Writing != "rocky9:2" {
		t.Errorf("image %+v", d.Image)
	}
	if h := d.Hygiene; h == nil || h.Entries != 25 || len(h.Ledger) != maxLedger || h.Ledger[maxLedger-1].Evidence != "step 24" || h.CleaningDone[0] != "erase" {
		t.Errorf("hygiene %+v", d.Hygiene)
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
