package control

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestProvisionThroughRedfish drives a redfishmock BMC over HTTP with the
// real Redfish client (RedfishBMCs, bmc.Lazy, gofish): inspection, a
// deployment that boots an ISO from virtual media in UEFI mode and power
// cycles on a BMC that offers no restart (ForceOff, Off read back, On),
// then fencing of the lost node, with the power off read back from the
// BMC before the job is failed.
func TestProvisionThroughRedfish(t *testing.T) {
	mock, err := redfishmock.New("../../testdata/redfish/handwritten/vmedia-server",
		redfishmock.Options{Username: "ibex-bmc", Password: "Zq7-bmc-secret"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(mock)
	t.Cleanup(ts.Close)
	pool := &RedfishBMCs{DialTimeout: 5 * time.Second, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}
	t.Cleanup(pool.Close)
	const iso = "https://images.example/ibex-ramdisk.iso"
	h := newProvHarness(t, 1, 2, func(c *Config) {
		c.BMCs = pool
		c.Provision.Boot, c.Provision.RamdiskISO = "Cd", iso
		c.Provision.PowerTimeout, c.Provision.FenceTimeout = 10*time.Second, 10*time.Second
	})
	const node = "node001"
	h.enrollAgent(node)
	inv, _ := json.Marshal(&pb.HardwareInventory{PowerState: "On"})
	h.apply(&fsm.NodeInventory{Node: node, Inventory: string(inv), Time: h.store.Now()})
	b := model.NodeBMC{Endpoint: ts.URL}
	if b.Credentials, err = h.keys.SealBMCLogin(node, b, "ibex-bmc", "Zq7-bmc-secret"); err != nil {
		t.Fatal(err)
	}
	h.apply(&fsm.SetNodeBMC{Node: node, BMC: b, By: "admin", Time: h.store.Now()})
	h.settle()
	if n := h.node(node); n.ProvisionState() != model.ProvAvailable {
		t.Fatalf("%s: %s %q (%+v)", node, n.ProvisionState(), n.Reason, n.Prov)
	}
	if ev := h.lastLedgerStep(node, "provision:inspected"); !strings.Contains(ev, "BMC: power On") {
		t.Fatalf("inspection evidence %q", ev)
	}

	// Deploy: the image policy changed, so the disk is rewritten.
	h.cfg.DefaultImage = testImage
	h.newLeader()
	id := h.submit(1)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s; %s", j.State, h)
	}
	var media []string
	for _, m := range mock.Media() {
		media = append(media, m.Via+" "+m.Image)
	}
	if want := []string{"InsertMedia " + iso, "EjectMedia "}; !slices.Equal(media, want) {
		t.Fatalf("virtual media %q, want %q", media, want)
	}
	var resets []string
	for _, r := range mock.Resets() {
		resets = append(resets, r.ResetType)
	}
	// No ForceRestart on this BMC: each power cycle is ForceOff, then On.
	if want := []string{"ForceOff", "On", "ForceOff", "On"}; !slices.Equal(resets, want) {
		t.Fatalf("resets %v, want %v", resets, want)
	}
	sys, err := mock.Resource("/redfish/v1/Systems/system")
	if err != nil {
		t.Fatal(err)
	}
	boot := sys["Boot"].(map[string]any)
	if boot["BootSourceOverrideEnabled"] != "Disabled" || boot["BootSourceOverrideTarget"] != "Hdd" {
		t.Fatalf("boot override after the deployment: %v", boot)
	}

	// Fence: the agent leaves gossip; the job stays until the BMC reports Off.
	g := &fakeGossip{joined: true, alive: map[string]bool{node: true}}
	h.loops.cfg.Gossip = g
	seen := map[string]time.Time{}
	h.loops.livenessPass(context.Background(), seen)
	g.mu.Lock()
	g.alive = map[string]bool{}
	g.mu.Unlock()
	h.loops.livenessPass(context.Background(), seen)
	if j := h.job(id); j.State != model.JobRunning {
		t.Fatalf("job %s before fencing", j.State)
	}
	h.provPass()
	j, n := h.job(id), h.node(node)
	if j.State != model.JobFailed || !strings.Contains(j.Reason, "fenced") || n.State != model.NodeDown {
		t.Fatalf("after fencing: job %s %q, node %s", j.State, j.Reason, n.State)
	}
	rs := mock.Resets()
	last := rs[len(rs)-2:]
	if last[0].ResetType != "ForceOff" || last[0].After != "Off" || last[1].ResetType != "On" {
		t.Fatalf("fence resets %+v, want ForceOff (to Off) then On", last)
	}
	if ev := h.lastLedgerStep(node, "provision:fenced"); !strings.Contains(ev, "BMC reports Off") {
		t.Fatalf("fence evidence %q", ev)
	}
	if _, err := model.VerifyChain(ledgerOf(h, node)); err != nil {
		t.Fatal(err)
	}
}

func ledgerOf(h *provHarness, node string) []model.LedgerEntry {
	var out []model.LedgerEntry
	h.store.Read(func(st *fsm.State) { out = append(out, st.Ledger[node]...) })
	return out
}
