package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
)

func wireTenantImage(name, version string) *pb.Image {
	return &pb.Image{Name: name, Version: version, Size: 4096, Sha256: strings.Repeat("c", 64), SourceUrl: "https://images.example/" + name,
		BlockSize: 4096, BlockSha256: []string{strings.Repeat("d", 64)}}
}

// TestTenantImagesAPI: a tenant adds its own images, sees them with the
// public catalog, runs them and removes them; another tenant neither sees,
// runs nor removes them; refusals propose nothing.
func TestTenantImagesAPI(t *testing.T) {
	h := newAPIHarness(t, topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2})
	carolTok := auth.NewToken()
	h.apply(t, &fsm.CreateTenant{Tenant: model.Tenant{Name: "carol", TokenHash: auth.HashToken(carolTok)}})
	carol := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+carolTok)
	h.apply(t, &fsm.AddImage{Image: model.Image{Name: "alma", Version: "8", Size: 1, SHA256: strings.Repeat("a", 64), SourceURL: "http://x/a"}})
	// Carry-or-image: node001 gets an agent and a BMC.
	h.apply(t, &fsm.CreateJoinToken{Node: "node001", Hash: "tok", Expires: h.store.Now().Add(time.Hour)})
	h.apply(t, &fsm.Enroll{Node: "node001", TokenHash: "tok", CertSerial: "s1", Time: h.store.Now()})
	h.apply(t, &fsm.SetNodeBMC{Node: "node001", BMC: model.NodeBMC{Endpoint: "https://b1", SystemID: "1", Credentials: model.Sealed{KeyID: "k0123456789abcdef", Box: []byte("x")}}, Time: h.store.Now()})
	var proposed []fsm.Command
	h.store.Fail(func(c fsm.Command) error { proposed = append(proposed, c); return nil })
	refused := func(what string, err error, code codes.Code) {
		t.Helper()
		if c := statusCode(err); c != code {
			t.Errorf("%s: %v, want %s", what, err, code)
		}
		if len(proposed) != 0 {
			t.Errorf("%s proposed %v", what, proposed)
		}
		proposed = nil
	}

	img, err := h.fleet.AddImage(h.ctx(), wireTenantImage("mine", "1"))
	if err != nil || img.Owner != "alice" {
		t.Fatalf("alice adds her image: %v %v", img, err)
	}
	proposed = nil
	fileURL := wireTenantImage("x", "1")
	fileURL.SourceUrl = "file:///etc/shadow"
	_, err = h.fleet.AddImage(h.ctx(), fileURL)
	refused("a file:// source", err, codes.InvalidArgument)
	_, err = h.fleet.AddImage(h.ctx(), wireTenantImage("alma", "9"))
	refused("shadowing a public name", err, codes.FailedPrecondition)
	_, err = h.fleet.AddImage(carol, wireTenantImage("mine", "2"))
	refused("another tenant's name", err, codes.FailedPrecondition)
	huge := wireTenantImage("huge", "1")
	for range model.MaxImageBlocks + 1000 {
		huge.BlockSha256 = append(huge.BlockSha256, strings.Repeat("d", 64))
	}
	_, err = h.fleet.AddImage(h.ctx(), huge)
	refused("an oversized entry", err, codes.InvalidArgument)
	if err == nil || !strings.Contains(err.Error(), "bytes, the limit") {
		t.Errorf("oversized entry: %v, want the byte limit", err)
	}

	list := func(ctx context.Context) string {
		t.Helper()
		resp, err := h.fleet.ListImages(ctx, &pb.ListImagesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range resp.Images {
			out = append(out, i.Name+":"+i.Version+"/"+i.Owner)
		}
		return strings.Join(out, ",")
	}
	if got := list(h.ctx()); got != "alma:8/,mine:1/alice" {
		t.Errorf("alice sees %s", got)
	}
	if got := list(carol); got != "alma:8/" {
		t.Errorf("carol sees %s", got)
	}
	if got := list(h.adminCtx()); got != "alma:8/,mine:1/alice" {
		t.Errorf("an admin sees %s", got)
	}

	submit := func(ctx context.Context, img string) error {
		_, err := h.jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, Image: img})
		return err
	}
	refused("carol runs alice's image", submit(carol, "mine:1"), codes.NotFound)
	if err := submit(h.ctx(), "mine:1"); err != nil {
		t.Fatalf("alice runs her image: %v", err)
	}
	if err := submit(carol, "alma:8"); err != nil {
		t.Fatalf("carol runs a public image: %v", err)
	}
	proposed = nil
	_, err = h.fleet.RemoveImage(carol, &pb.RemoveImageRequest{Name: "mine", Version: "1"})
	refused("carol removes alice's image", err, codes.NotFound)
	_, err = h.fleet.RemoveImage(h.ctx(), &pb.RemoveImageRequest{Name: "alma", Version: "8"})
	refused("a tenant removes a public image", err, codes.PermissionDenied)
	_, err = h.fleet.RemoveImage(h.ctx(), &pb.RemoveImageRequest{Name: "mine", Version: "1"})
	refused("removing an image a job asks for", err, codes.FailedPrecondition)
	_, err = h.fleet.RemoveImage(h.ctx(), &pb.RemoveImageRequest{Name: "../x", Version: "1"})
	refused("a malformed reference", err, codes.InvalidArgument)
}

func statusCode(err error) codes.Code { return status.Code(err) }
