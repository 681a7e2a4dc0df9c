package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSimBMCDeployJobClean: `ibexd --dev --sim-bmc`, where every simulated
// node's power is a Redfish BMC the control plane drives, and the CLI. A
// job with its own image (--image) is deployed on each of its nodes
// through the BMC: a one-time PXE boot and a power cycle that stops the
// node's agent and boots a new one in its deploy ramdisk (which says so),
// the image written and verified, a boot to disk, and a check-in by the
// agent on the image with the digest it hashed from the disk (the
// catalog's). The job runs there, the node is cleaned and available
// again; a job on the nodes' own image then skips the rewrite.
func TestSimBMCDeployJobClean(t *testing.T) {
	c := startDev(t, "--sim-bmc", "--leaves", "1", "--nodes-per-leaf", "2")
	nodes := []string{"node001", "node002"}
	available := func() {
		t.Helper()
		for _, n := range nodes {
			waitFor(t, n+" available", 60*time.Second, func() (bool, string) {
				out, errs, _ := c.ibex("nodes", "show", n)
				return strings.Contains(out, "Provisioning:  available"), out + errs
			})
		}
	}
	available()
	for _, n := range nodes {
		if out := c.must("nodes", "show", n); !strings.Contains(out, "BMC:           http://127.77.0.") {
			t.Fatalf("%s has no simulated BMC registered:\n%s", n, out)
		}
	}

	img := filepath.Join(t.TempDir(), "alma.img")
	b := make([]byte, 1<<20+12345)
	rand.Read(b)
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sha := fileSHA(t, img)
	c.must("images", "add", "alma:8", "--sha256", sha, "--size", fmt.Sprint(len(b)), "--url", "file://"+img)

	// The simulated HCAs' second firmware image, with two settings: the
	// job runs on it, the cleaning restores the baseline (#14.4 in #14.7's
	// cycle).
	c.must("firmware", "profile", "add", "cx6-tinker", "--psid", "MT_0000000223", "--version", "20.32.1010",
		"--sha256", "943f00471fde25b5b840a846ffab2d9b5fbae3a4b3beb614bb55dc45e1194a49", "--file", "fw-ConnectX6-20.32.1010.bin",
		"--set", "SRIOV_EN=1", "--set", "NUM_OF_VFS=8")
	id := jobID(t, c.must("submit", "-N", "2", "-t", "2m", "--image", "alma:8", "--firmware-profile", "cx6-tinker",
		"--", "sh", "-c", "echo on $IBEX_NODENAME"))
	j := c.waitState(id, "completed")
	if len(j.Nodes) != 2 {
		t.Fatalf("job %s nodes %v", id, j.Nodes)
	}
	available()
	for _, n := range nodes {
		h := c.must("nodes", "history", n)
		steps := []string{
			"deploying → deploying/ramdisk; one-time boot Pxe",
			"booted into the deploy ramdisk",
			"image alma:8 written and its digest verified",
			"deploying → deploying/check-in; one-time boot Hdd",
			"booted from disk, running image alma:8 with digest sha256:" + sha,
			"firmware-profile",
			"NUM_OF_VFS=8,SRIOV_EN=1",
			"20.31.2006 with NUM_OF_VFS=0,SRIOV_EN=0", // the cleaning: baseline and defaults back
			"found as ibex left it (profile cx6-tinker",
			"stop of job " + id,
		}
		at := 0
		for _, s := range steps {
			i := strings.Index(h[at:], s)
			if i < 0 {
				t.Fatalf("%s's history lacks %q after the earlier steps:\n%s", n, s, h)
			}
			at += i
		}
	}
	if out := c.must("logs", id); !strings.Contains(out, "on node001") || !strings.Contains(out, "on node002") {
		t.Fatalf("job output:\n%s", out)
	}

	// A job on the image the nodes carry when clean (none in --dev): no
	// rewrite, no power cycle.
	id2 := jobID(t, c.must("submit", "-N", "2", "-t", "2m", "--", "true"))
	c.waitState(id2, "completed")
	available()
	for _, n := range nodes {
		h := c.must("nodes", "history", n)
		tail := h[strings.LastIndex(h, "provision:deploy "):]
		if strings.Contains(tail, "one-time boot") || !strings.Contains(tail, "no image to write") {
			t.Fatalf("%s: the second deployment power-cycled or wrote:\n%s", n, tail)
		}
	}

	// A bios profile (#14.4): the leader sets the attributes through each
	// node's BMC, power-cycles it and reads them back before the job
	// starts; the cleaning puts the baseline back the same way.
	c.must("firmware", "profile", "add", "turbo-off", "--kind", "bios", "--set", "ProcTurboMode=Disabled", "--set", "ProcCoreDisable=2")
	id3 := jobID(t, c.must("submit", "-N", "2", "-t", "2m", "--firmware-profile", "turbo-off", "--", "true"))
	c.waitState(id3, "completed")
	available()
	for _, n := range nodes {
		h := c.must("nodes", "history", n)
		tail := h[strings.LastIndex(h, "provision:deploy "):]
		steps := []string{
			"bios-profile",
			"ProcCoreDisable=2, ProcTurboMode=Disabled", // read back after the power cycle
			"baseline kept for the cleaning: ProcCoreDisable=0, ProcTurboMode=Enabled",
			"bios-restore", // the cleaning, before its agent steps
			"baseline restored through the BMC and read back after a power cycle: ProcCoreDisable=0, ProcTurboMode=Enabled",
			"stop of job " + id3 + " and steps erase firmware recorded", // cleaned
		}
		at := 0
		for _, s := range steps {
			i := strings.Index(tail[at:], s)
			if i < 0 {
				t.Fatalf("%s's history lacks %q after the earlier steps:\n%s", n, s, tail)
			}
			at += i
		}
	}
}
