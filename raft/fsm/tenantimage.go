package fsm

import "github.com/ibex-hpc/ibex/model"

// Tenant images (model/tenantimage.go) in the catalog: who may add which
// name, a tenant's bounds, and removing an image nothing uses.

// RemoveImage takes an image out of the catalog. The API checks who may
// (a tenant its own, an admin any); the state that nothing uses it.
type RemoveImage struct {
	Ref string `json:"ref"`
}

const CmdRemoveImage CommandType = 89

func (RemoveImage) Type() CommandType { return CmdRemoveImage }

func init() { registerE(CmdRemoveImage, (*State).removeImage) }

// CheckAddImage is the state's verdict on adding img, asked by the API
// before proposing (a refused image writes nothing) and by AddImage
// itself. Versions are immutable; a name belongs to one owner (the public
// catalog or one tenant), so no tenant can shadow a public image or
// another tenant's under the same name; a tenant's images are bounded.
func (s *State) CheckAddImage(img model.Image) error {
	if _, ok := s.Images[img.Ref()]; ok {
		return errorf(ErrConflict, "image %s already in the catalog (versions are immutable)", img.Ref())
	}
	count, blocks := 0, len(img.Blocks)
	for _, other := range s.Images {
		if other.Name == img.Name && other.Owner != img.Owner {
			return errorf(ErrConflict, "image name %s is taken (by the public catalog or another tenant): choose another name", img.Name)
		}
		if img.Owner != "" && other.Owner == img.Owner {
			count++
			blocks += len(other.Blocks)
		}
	}
	if img.Owner == "" {
		return nil
	}
	if err := img.ValidateTenantImage(); err != nil {
		return errorf(ErrInvalid, "%v", err)
	}
	if count >= model.MaxTenantImages {
		return errorf(ErrInvalid, "tenant %s has %d images, the limit is %d: remove one first (ibex images remove)", img.Owner, count, model.MaxTenantImages)
	}
	if blocks > model.MaxTenantImageBlocks {
		return errorf(ErrInvalid, "tenant %s's images would hold %d block hashes, the limit is %d: remove one first", img.Owner, blocks, model.MaxTenantImageBlocks)
	}
	return nil
}

// CheckRemoveImage refuses to remove an image a job asks for, a node
// carries or a task or deployment is writing.
func (s *State) CheckRemoveImage(ref string) error {
	if _, ok := s.Images[ref]; !ok {
		return errorf(ErrNotFound, "image %s is not in the catalog", ref)
	}
	for _, j := range s.Jobs {
		if j.Image == ref && !j.State.Terminal() {
			return errorf(ErrConflict, "image %s: job %d (%s) asks for it", ref, j.ID, j.State)
		}
	}
	for _, n := range s.SortedNodes() {
		if n.Image == ref || n.Task != nil && n.Task.Image == ref || n.Prov != nil && n.Prov.Image == ref {
			return errorf(ErrConflict, "image %s: node %s carries it or is being imaged with it", ref, n.Name)
		}
	}
	return nil
}

func (s *State) removeImage(c *RemoveImage) error {
	if err := s.CheckRemoveImage(c.Ref); err != nil {
		return err
	}
	delete(s.Images, c.Ref)
	return nil
}
