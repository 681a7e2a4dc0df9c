package e2e

import (
	"strings"
	"testing"
)

// TestFirmwareProfileCLI: through the CLI against `ibexd --dev` (real
// agents on simulated HCAs): an admin approves a profile, a tenant cannot,
// a job that names no approved profile is refused, and a tenant's job with
// the profile runs after its nodes' agents applied it and is followed by
// the cleaning's firmware step, in the node's history.
func TestFirmwareProfileCLI(t *testing.T) {
	c := startDev(t, "--leaves", "1", "--nodes-per-leaf", "2")
	alice := "IBEX_TOKEN=" + strings.TrimSpace(c.must("tenant", "create", "alice"))
	c.fails([]string{alice}, "admin", "firmware", "profile", "add", "mine", "--psid", "MT_0000000223", "--set", "SRIOV_EN=1")
	c.fails(nil, "PSID", "firmware", "profile", "add", "bad", "--psid", "MT;0", "--set", "SRIOV_EN=1")
	c.must("firmware", "profile", "add", "cx6-tinker", "--psid", "MT_0000000223", "--version", "20.32.1010",
		"--sha256", "943f00471fde25b5b840a846ffab2d9b5fbae3a4b3beb614bb55dc45e1194a49", "--file", "fw-ConnectX6-20.32.1010.bin",
		"--set", "SRIOV_EN=1", "--set", "NUM_OF_VFS=8")
	c.must("firmware", "profile", "add", "turbo-off", "--kind", "bios", "--set", "ProcTurboMode=Disabled")
	if out, _, _ := c.ibexEnv([]string{alice}, "firmware", "profile", "list"); !strings.Contains(out, "cx6-tinker") || !strings.Contains(out, "NUM_OF_VFS=8") {
		t.Fatalf("alice's list:\n%s", out)
	}
	c.fails([]string{alice}, "not approved", "submit", "-N", "1", "--firmware-profile", "nope", "--", "true")
	c.fails([]string{alice}, "registered BMC", "submit", "-N", "1", "--firmware-profile", "turbo-off", "--", "true")
	if q := c.must("queue", "--all"); strings.Contains(q, "alice") {
		t.Fatalf("a refused submission queued a job:\n%s", q)
	}
	out, errs, code := c.ibexEnv([]string{alice}, "submit", "-N", "2", "-t", "1m", "--firmware-profile", "cx6-tinker", "--", "sleep", "3")
	if code != 0 {
		t.Fatal(errs)
	}
	id := jobID(t, out)
	c.waitState(id, "running")
	c.fails(nil, "asks for it", "firmware", "profile", "remove", "cx6-tinker")
	c.waitState(id, "completed")
	if show := c.must("show", id); !strings.Contains(show, "cx6-tinker") {
		t.Fatalf("show:\n%s", show)
	}
	c.waitAllReady()
	for _, node := range []string{"node001", "node002"} {
		hist := c.must("nodes", "history", node)
		p, f := strings.Index(hist, "firmware-profile"), strings.Index(hist, "found as ibex left it (profile cx6-tinker")
		if p < 0 || f < p {
			t.Fatalf("%s history (%d, %d): the profile applied, then the baseline restored:\n%s", node, p, f, hist)
		}
	}
	c.must("firmware", "profile", "remove", "cx6-tinker")
}
