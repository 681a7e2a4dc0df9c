package fsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func tenantImage(owner, name, version string, blocks int) model.Image {
	img := model.Image{Name: name, Version: version, Size: int64(blocks) * 4096, SHA256: strings.Repeat("c", 64),
		SourceURL: "https://" + owner + ".example/" + name + ".img", BlockSize: 4096, Owner: owner}
	for range blocks {
		img.Blocks = append(img.Blocks, strings.Repeat("d", 64))
	}
	return img
}

// TestTenantImages: a tenant's image is visible to its jobs only, its name
// cannot shadow the public catalog's or another tenant's, its source is
// http(s), and a tenant's images are bounded in number and block hashes.
func TestTenantImages(t *testing.T) {
	f := harness(t, 2)
	must(t, f.Apply(&AddImage{Image: model.Image{Name: "alma", Version: "8", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/a"}}))
	must(t, f.Apply(&AddImage{Image: tenantImage("alice", "mine", "1", 1)}))
	enrolled(t, f, "node001")
	must(t, f.Apply(&SetNodeBMC{Node: "node001", BMC: testBMC("https://b1"), Time: t0}))

	for name, img := range map[string]model.Image{
		"shadows the public name": tenantImage("alice", "alma", "9", 1),
		"another tenant's name":   tenantImage("bob", "mine", "2", 1),
		"same version again":      tenantImage("alice", "mine", "1", 1),
		"file URL": func() model.Image {
			i := tenantImage("alice", "x", "1", 1)
			i.SourceURL = "file:///var/lib/ibex-agent/key.pem"
			return i
		}(),
		"no block list":            func() model.Image { i := tenantImage("alice", "x", "1", 1); i.Blocks = nil; return i }(),
		"public under tenant name": func() model.Image { i := tenantImage("", "mine", "7", 1); i.SourceURL = "http://x/m"; return i }(),
	} {
		if r := f.Apply(&AddImage{Image: img}); r.Err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for i := 2; i <= model.MaxTenantImages; i++ {
		must(t, f.Apply(&AddImage{Image: tenantImage("alice", "mine", fmt.Sprint(i), 1)}))
	}
	if r := f.Apply(&AddImage{Image: tenantImage("alice", "other", "1", 1)}); !errors.Is(r.Err, ErrInvalid) || !strings.Contains(r.Err.Error(), "limit") {
		t.Errorf("image %d: %v", model.MaxTenantImages+1, r.Err)
	}
	if r := f.Apply(&AddImage{Image: tenantImage("bob", "big", "1", model.MaxTenantImageBlocks+1)}); r.Err == nil {
		t.Error("a block list over the tenant's bound was accepted")
	}

	job := func(tenant, img string) *SubmitJob {
		return &SubmitJob{Job: model.Job{Tenant: tenant, NumNodes: 1, TimeLimit: time.Hour, Argv: []string{"x"}, Image: img}, Time: t0}
	}
	if r := f.Apply(job("bob", "mine:1")); !errors.Is(r.Err, ErrNotFound) || strings.Contains(r.Err.Error(), "alice") {
		t.Fatalf("bob runs alice's image: %v", r.Err)
	}
	id := must(t, f.Apply(job("alice", "mine:1"))).(uint64)
	must(t, f.Apply(job("bob", "alma:8")))
	if r := f.Apply(&RemoveImage{Ref: "mine:1"}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("removed an image a job asks for: %v", r.Err)
	}
	must(t, f.Apply(&CancelJob{JobID: id, By: "alice", Time: t0}))
	must(t, f.Apply(&RemoveImage{Ref: "mine:1"}))
	if _, ok := f.View().Images["mine:1"]; ok {
		t.Fatal("still in the catalog")
	}
}
