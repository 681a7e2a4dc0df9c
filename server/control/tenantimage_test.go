package control

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestTenantImageDeployedAndGone: a tenant's own image is written by the
// deployment of its job's node like a catalog image, and the cleaning
// afterwards leaves the cluster's image, not the tenant's; a second job
// asking for the cluster's image on the clean node skips the rewrite.
func TestTenantImageDeployedAndGone(t *testing.T) {
	h := newProvHarness(t, 1, 1, func(c *Config) { c.DefaultImage = testImage })
	h.apply(&fsm.AddImage{Image: model.Image{Name: "mine", Version: "1", Size: 4096, SHA256: strings.Repeat("c", 64),
		SourceURL: "https://alice.example/mine.img", BlockSize: 4096, Blocks: []string{strings.Repeat("d", 64)}, Owner: "alice"}})
	h.available("node001", true)
	boots := len(h.bmcs.fake("node001").Boots())
	id := h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}, Image: "mine:1"}, Time: h.store.Now()}).(uint64)
	h.settle()
	if j, n := h.job(id), h.node("node001"); j.State != model.JobRunning || n.Image != "mine:1" {
		t.Fatalf("job %s %q on image %q", j.State, j.Reason, n.Image)
	}
	if got := len(h.bmcs.fake("node001").Boots()); got != boots+2 {
		t.Fatalf("%d boots for the deployment, want 2 (ramdisk, disk)", got-boots)
	}
	h.exec.exit(id, "node001", 0)
	h.settle()
	if n := h.node("node001"); n.State != model.NodeReady || n.Image != testImage {
		t.Fatalf("after alice's job: %s with %q, want the cluster's image back", n.State, n.Image)
	}
	boots = len(h.bmcs.fake("node001").Boots())
	id = h.apply(&fsm.SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}, Image: testImage}, Time: h.store.Now()}).(uint64)
	h.settle()
	if j := h.job(id); j.State != model.JobRunning || len(h.bmcs.fake("node001").Boots()) != boots {
		t.Fatalf("job %s: %d boots for a node that carries the image", j.State, len(h.bmcs.fake("node001").Boots())-boots)
	}
}
