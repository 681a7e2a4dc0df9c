package simnode

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/nodeagent/agent"
)

// unknownEnroller hands out a join token for a control plane that is not
// there: the agent keeps trying to enroll, i.e. it runs until stopped.
type unknownEnroller struct{}

func (unknownEnroller) Known(context.Context, string) (bool, error) { return false, nil }
func (unknownEnroller) JoinToken(context.Context, string) (string, string, error) {
	return "ibexjoin_test", "sha256:" + strings.Repeat("ab", 32), nil
}

// TestBMCSwitchesThePower: the node's Redfish BMC is its power. ForceOff
// stops the agent; On after a one-time PXE boot starts a new agent in the
// deploy ramdisk; a restart after that (the override spent) boots the disk.
func TestBMCSwitchesThePower(t *testing.T) {
	root := t.TempDir()
	f, err := NewFleet(Config{Root: root, Servers: []string{"127.0.0.1:1"}, Power: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, []Spec{{Name: "node001", Ports: []sm.GUID{0x2c90300000011}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); f.Wait() }()
	bmcs, err := f.ServeBMCs(ctx, func(int, *Node) string { return "127.0.0.1:0" })
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx, unknownEnroller{})
	n := f.Nodes[0]
	pass, err := BMCPassword(root, n.Name)
	if err != nil {
		t.Fatal(err)
	}
	redfish := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, bmcs[0].Endpoint+path, strings.NewReader(body))
		req.SetBasicAuth(BMCUser, pass)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	const sys = "/redfish/v1/Systems/system"
	reset := func(rt string) {
		redfish(http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"`+rt+`"}`)
	}
	want := func(on bool, mode agent.BootMode, boots int) {
		t.Helper()
		gotOn, gotMode, gotBoots := n.Power()
		if gotOn != on || (on && gotMode != mode) || gotBoots != boots {
			t.Fatalf("power on=%v mode=%q boots=%d, want on=%v mode=%q boots=%d", gotOn, gotMode, gotBoots, on, mode, boots)
		}
		if on && (n.Agent.Config.BootMode != mode || n.Agent.Config.BootRecord != n.BootRecord()) {
			t.Fatalf("the agent runs boot mode %q (record %q), want %q", n.Agent.Config.BootMode, n.Agent.Config.BootRecord, mode)
		}
	}
	want(true, agent.BootDisk, 1)
	first := n.Agent
	time.Sleep(50 * time.Millisecond) // the agent is running (trying to enroll)

	reset("ForceOff")
	want(false, "", 1)
	redfish(http.MethodPatch, sys, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`)
	reset("On")
	want(true, agent.BootRamdisk, 2)
	if n.Agent == first {
		t.Fatal("the boot reused the stopped agent")
	}
	reset("GracefulRestart")
	want(true, agent.BootDisk, 3)
	if got := len(bmcs[0].Mock.Resets()); got != 3 {
		t.Fatalf("%d resets recorded, want 3", got)
	}
}
