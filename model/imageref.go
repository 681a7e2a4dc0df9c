package model

import (
	"fmt"
	"strings"
)

// ParseImageRef checks an image reference as a tenant gives it to
// `ibex submit --image`: "NAME:VERSION", each part by Image.Validate's
// rules (so at most 2*MaxImageNameLen+1 bytes).
func ParseImageRef(ref string) (name, version string, err error) {
	if len(ref) > 2*MaxImageNameLen+1 {
		return "", "", fmt.Errorf("%w: image reference is %d bytes, the limit is %d", ErrInvalidImage, len(ref), 2*MaxImageNameLen+1)
	}
	name, version, ok := strings.Cut(ref, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: image must be NAME:VERSION (see `ibex images list`), got %q", ErrInvalidImage, ref)
	}
	if err := checkImageToken("image name", name, ""); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	if err := checkImageToken("image version", version, "+"); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidImage, err)
	}
	return name, version, nil
}

// CanCarry reports whether node n can run a job that asks for image (a
// catalog reference; "" asks for nothing): it carries the verified image
// already, or the control plane can write it there (a registered BMC to
// boot it into the agent's imaging, and an agent).
func (n *Node) CanCarry(image string) bool {
	return image == "" || n.Image == image || n.BMC != nil && n.Agent != nil && !n.Agent.Revoked
}
