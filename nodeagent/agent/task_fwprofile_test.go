package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

func challengeTask(t *testing.T, task *pb.AgentTask, ch model.Challenge) *pb.AgentTask {
	t.Helper()
	b, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	task.ChallengeJson = string(b)
	return task
}

func setting(d model.FirmwareDevice, key string) model.ConfigReading {
	for _, r := range d.Config {
		if r.Key == key {
			return r
		}
	}
	return model.ConfigReading{}
}

// TestFirmwareProfileAppliedThenRestored: the profile task burns the
// profile's firmware, sets its setting and resets, and answers with the
// readings as found and after; the cleaning's firmware task then puts the
// setting back to its default (current and next boot) with the baseline.
func TestFirmwareProfileAppliedThenRestored(t *testing.T) {
	env := newTestEnv(t)
	pin := firmwareSetup(t, env)
	env.flasher.AddDevice("mlx5_0", firmware.FakeDevice{PSID: "MT_0000000228", Burned: "20.1.1000", Running: "20.1.1000",
		Config: map[string]firmware.Setting{"SRIOV_EN": {Default: "False(0)", Current: "False(0)", Next: "False(0)"}}})
	_, c, _ := enrolled(t, env, nil)

	psid := pin.GetPsid()
	prof := &pb.FirmwareProfileTask{Profile: "sriov", Pins: []*pb.FirmwarePin{pin}, Settings: []*pb.FirmwareSetting{{Psid: psid, Key: "SRIOV_EN", Value: "1"}}}
	ch := model.Challenge{Nonce: strings.Repeat("a", 32), Pins: map[string]string{psid: pin.GetVersion()},
		Config: map[string]map[string]string{psid: {"SRIOV_EN": "1"}}, Before: true}

	// Task and challenge disagree on the setting: refused, device untouched.
	bad := model.Challenge{Nonce: ch.Nonce, Pins: ch.Pins, Config: map[string]map[string]string{psid: {"SRIOV_EN": "0"}}, Before: true}
	c.send <- challengeTask(t, &pb.AgentTask{Id: "p-bad", Kind: &pb.AgentTask_FirmwareProfile{FirmwareProfile: prof}}, bad)
	if res := c.result(t, "p-bad"); res.GetOk() || !strings.Contains(res.GetError(), "not what the challenge verifies") {
		t.Fatalf("mismatched task: %v", res)
	}
	if d, _ := env.flasher.Device("mlx5_0"); d.Running != "20.1.1000" {
		t.Fatalf("a refused task touched the device: %+v", d)
	}

	c.send <- challengeTask(t, &pb.AgentTask{Id: "p-1", Kind: &pb.AgentTask_FirmwareProfile{FirmwareProfile: prof}}, ch)
	res := c.result(t, "p-1")
	if !res.GetOk() {
		t.Fatalf("profile task: %v", res)
	}
	a := answerOf(t, res)
	if v, err := model.CheckFirmware(ch, a); err != nil {
		t.Fatalf("the server would refuse the answer: %v", err)
	} else if !strings.Contains(v, "SRIOV_EN=True(1)") && !strings.Contains(v, "SRIOV_EN=1") {
		t.Fatalf("verdict %q", v)
	}
	if b := a.Firmware.Before; len(b) != 1 || b[0].Readings[1].Version != "20.1.1000" || setting(b[0], "SRIOV_EN").Current != "False(0)" {
		t.Fatalf("readings as found: %+v", b)
	}
	if d, _ := env.flasher.Device("mlx5_0"); d.Running != "20.2.2000" || d.Config["SRIOV_EN"].Current != "1" {
		t.Fatalf("device after the profile: %+v", d)
	}

	// The cleaning: the baseline pin, SRIOV_EN back at its default.
	clean := model.Challenge{Nonce: strings.Repeat("b", 32), Pins: ch.Pins, ConfigKeys: []string{"SRIOV_EN"}, Before: true}
	c.send <- challengeTask(t, firmwareTask("fw-1", pin), clean)
	res = c.result(t, "fw-1")
	if !res.GetOk() {
		t.Fatalf("cleaning firmware task: %v", res)
	}
	a = answerOf(t, res)
	if _, err := model.CheckFirmware(clean, a); err != nil {
		t.Fatalf("the server would refuse the restore: %v", err)
	}
	if s := setting(a.Firmware.Devices[0], "SRIOV_EN"); !model.SameSetting(s.Current, "0") || !model.SameSetting(s.Next, "0") {
		t.Fatalf("restored setting %+v", s)
	}
	if s := setting(a.Firmware.Before[0], "SRIOV_EN"); s.Current != "1" {
		t.Fatalf("found before the restore: %+v", s)
	}
}

// TestFirmwareProfileSettingFailureQuarantines: a setting the adapter
// refuses leaves the device in a state nobody chose.
func TestFirmwareProfileSettingFailureQuarantines(t *testing.T) {
	env := newTestEnv(t)
	pin := firmwareSetup(t, env)
	_, c, _ := enrolled(t, env, nil) // the device has no settings at all
	psid := pin.GetPsid()
	prof := &pb.FirmwareProfileTask{Profile: "sriov", Pins: []*pb.FirmwarePin{pin}, Settings: []*pb.FirmwareSetting{{Psid: psid, Key: "SRIOV_EN", Value: "1"}}}
	ch := model.Challenge{Nonce: strings.Repeat("c", 32), Pins: map[string]string{psid: pin.GetVersion()}, Config: map[string]map[string]string{psid: {"SRIOV_EN": "1"}}}
	c.send <- challengeTask(t, &pb.AgentTask{Id: "p-q", Kind: &pb.AgentTask_FirmwareProfile{FirmwareProfile: prof}}, ch)
	if res := c.result(t, "p-q"); res.GetOk() || !res.GetQuarantine() || !strings.Contains(res.GetError(), "SRIOV_EN") {
		t.Fatalf("result %v", res)
	}
}
