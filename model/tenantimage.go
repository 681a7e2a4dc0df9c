package model

import (
	"fmt"
	"net/url"
)

// Tenant images: a tenant may add its own images to the catalog, which
// only it sees and only its jobs run (`ibex submit --image`). They are
// catalog entries like the admins' (digest-addressed NAME:VERSION with
// the SHA-256 and the block hash list the agents check), with an owner
// and tighter bounds, since every entry lives in every snapshot and the
// tenant is not trusted.

// Bounds of a tenant's images: how many, and their block hash lists
// together (8192 hashes: about 540 KB of replicated state).
const (
	MaxTenantImages      = 16
	MaxTenantImageBlocks = 8192
)

// VisibleTo reports whether tenant may see and run the image: a public
// one, or its own.
func (i Image) VisibleTo(tenant string) bool { return i.Owner == "" || i.Owner == tenant }

// ValidateTenantImage adds a tenant image's own rules to Validate and
// ValidateBlocks: an owner, and an http(s) source only. A file:// URL
// would make the node agent (root on the node) read a path of the
// tenant's choosing onto the disk the tenant gets: the agent's own key,
// say.
func (i Image) ValidateTenantImage() error {
	if i.Owner == "" {
		return fmt.Errorf("%w %q: a tenant image needs its owner", ErrInvalidImage, i.String())
	}
	if err := i.Validate(); err != nil {
		return err
	}
	if err := i.ValidateBlocks(); err != nil {
		return err
	}
	u, err := url.Parse(i.SourceURL)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w %q: a tenant's image comes from http:// or https://, not %q", ErrInvalidImage, i.String(), i.SourceURL)
	}
	return nil
}
