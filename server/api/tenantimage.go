package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/auth"
	"github.com/ibex-hpc/ibex/server/convert"
)

// Tenant images (model/tenantimage.go): a tenant adds its own with
// Fleet.AddImage, sees them in ListImages and removes them here; another
// tenant's image is "not in the catalog" to it, whatever the call.

// maxImageMessage bounds an image entry on the wire: a block list of
// model.MaxImageBlocks hashes and the rest.
const maxImageMessage = model.MaxImageBlocks*70 + 8<<10

func (f *fleetService) RemoveImage(ctx context.Context, req *pb.RemoveImageRequest) (*pb.ListImagesResponse, error) {
	caller := auth.Caller(ctx)
	ref := req.Name + ":" + req.Version
	if _, _, err := model.ParseImageRef(ref); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var err error
	f.a.cfg.Store.Read(func(st *fsm.State) {
		img, ok := st.Images[ref]
		switch {
		case !ok || !caller.Admin && img.Owner != caller.Name && img.Owner != "":
			err = status.Errorf(codes.NotFound, "image %s is not in the catalog (see `ibex images list`)", ref)
		case !caller.Admin && img.Owner == "":
			err = status.Errorf(codes.PermissionDenied, "image %s is in the public catalog: only an admin removes it", ref)
		default:
			err = convert.Status(st.CheckRemoveImage(ref))
		}
	})
	if err != nil {
		return nil, err
	}
	if _, err := f.a.cfg.Store.Apply(ctx, &fsm.RemoveImage{Ref: ref}); err != nil {
		return nil, convert.Status(err)
	}
	return f.ListImages(ctx, nil)
}
