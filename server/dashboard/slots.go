package dashboard

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// The node detail's fleet slots: hardware, firmware, image and hygiene.
// Each is nil (JSON null, "not reported") until the node's agent or the
// cleaning has recorded something. They are shown to admins only, as the
// gRPC NodeDetail call is: inventories and custody evidence are operator
// data.

// maxLedger is how many of a node's latest ledger entries the detail
// carries; the CLI's `ibex nodes history` has the rest.
const maxLedger = 20

// inventory is the part of an agent's hardware report (stored as the JSON
// of the HardwareInventory message) that the firmware slot summarises.
type inventory struct {
	HCAs []struct {
		Name      string `json:"name"`
		FWVersion string `json:"fw_version"`
		PSID      string `json:"psid"`
	} `json:"hcas"`
	BMCFirmware []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Known   bool   `json:"known"`
	} `json:"bmc_firmware"`
}

// FirmwareSlot is what runs on the node's HCAs and BMC, and the last
// firmware step of its cleaning.
type FirmwareSlot struct {
	HCAs map[string]string `json:"hcas,omitempty"` // HCA → "version (PSID)"
	// BMC is keyed by the BMC's inventory Id, which is unique, not by
	// component name, which is not: iLO names every NIC "Network
	// Controller" and every GPU alike, and keying by name dropped all but
	// one of each (27 entries shown as 16 on one server).
	BMC       map[string]BMCComponent `json:"bmc,omitempty"`
	LastCheck *LedgerRow              `json:"last_check,omitempty"`
}

// BMCComponent is one entry of the BMC's firmware inventory.
type BMCComponent struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version"`
	// Known is false when the BMC does not know the version ("N/A",
	// "undefined", ...): the agent reads it in-band instead.
	Known bool `json:"known"`
}

// ImageSlot is the verified OS image on the node's disk and any imaging in
// progress.
type ImageSlot struct {
	Verified string    `json:"verified,omitempty"` // "name:version"
	SHA256   string    `json:"sha256,omitempty"`
	Writing  string    `json:"writing,omitempty"` // image an agent task is writing
	Since    time.Time `json:"since,omitzero"`
}

// HygieneSlot is the node's chain of custody: the cleaning steps done so
// far and the latest ledger entries, oldest first.
type HygieneSlot struct {
	CleaningDone []model.TaskKind `json:"cleaning_done,omitempty"`
	Entries      int              `json:"entries"`
	Ledger       []LedgerRow      `json:"ledger"`
}

// LedgerRow is one ledger entry.
type LedgerRow struct {
	Time     time.Time `json:"time"`
	Step     string    `json:"step"`
	Actor    string    `json:"actor"`
	OK       bool      `json:"ok"`
	Evidence string    `json:"evidence,omitempty"`
	Job      uint64    `json:"job,omitempty"`
	// Start and End: when the step began and ended (absent in entries
	// from before they were recorded).
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// bmcKey is the key of a BMC firmware entry: its Id, or, from an agent
// that sent none, its name. A key already taken (two entries without an
// Id sharing a name, or a BMC repeating an Id) gets a "#2", "#3", ...
// suffix, so that no entry is dropped.
func bmcKey(have map[string]BMCComponent, id, name string) string {
	key := id
	if key == "" {
		key = name
	}
	if key == "" {
		key = "?"
	}
	if _, taken := have[key]; !taken {
		return key
	}
	for i := 2; ; i++ {
		k := fmt.Sprintf("%s#%d", key, i)
		if _, taken := have[k]; !taken {
			return k
		}
	}
}

func ledgerRow(e model.LedgerEntry) LedgerRow {
	return LedgerRow{Time: e.Time, Step: e.Step, Actor: e.Actor, OK: e.OK, Evidence: e.Evidence, Job: e.JobID, Start: e.Start, End: e.End}
}

// fillSlots sets d's slots from the state (for an admin viewer).
func fillSlots(st *fsm.State, n *model.Node, d *NodeDetail) {
	var inv inventory
	if n.Inventory != "" && json.Valid([]byte(n.Inventory)) {
		d.Hardware = json.RawMessage(n.Inventory)
		json.Unmarshal([]byte(n.Inventory), &inv)
	}
	ledger := st.Ledger[n.Name]

	fw := FirmwareSlot{}
	for _, h := range inv.HCAs {
		if h.FWVersion != "" {
			if fw.HCAs == nil {
				fw.HCAs = map[string]string{}
			}
			fw.HCAs[h.Name] = h.FWVersion + " (" + h.PSID + ")"
		}
	}
	for _, b := range inv.BMCFirmware {
		if fw.BMC == nil {
			fw.BMC = map[string]BMCComponent{}
		}
		fw.BMC[bmcKey(fw.BMC, b.ID, b.Name)] = BMCComponent{Name: b.Name, Version: b.Version, Known: b.Known}
	}
	for i := len(ledger) - 1; i >= 0; i-- {
		if ledger[i].Step == string(model.TaskFirmware) {
			r := ledgerRow(ledger[i])
			fw.LastCheck = &r
			break
		}
	}
	if fw.HCAs != nil || fw.BMC != nil || fw.LastCheck != nil {
		d.Firmware = &fw
	}

	img := ImageSlot{Verified: n.Image}
	if i, ok := st.Images[n.Image]; ok {
		img.SHA256 = i.SHA256
	}
	if n.Task != nil && n.Task.Kind == model.TaskImage {
		img.Writing, img.Since = n.Task.Image, n.Task.Started
	}
	if img.Verified != "" || img.Writing != "" {
		d.Image = &img
	}

	if len(ledger) > 0 || len(n.Cleaning) > 0 {
		h := HygieneSlot{CleaningDone: n.Cleaning, Entries: len(ledger), Ledger: []LedgerRow{}}
		for _, e := range ledger[max(0, len(ledger)-maxLedger):] {
			h.Ledger = append(h.Ledger, ledgerRow(e))
		}
		d.Hygiene = &h
	}
}
