package firmware

import "context"

// Flasher is where the hardware sits: everything Pin does to a device goes
// through these three calls, so the policy logic can be tested against Fake
// and run against Mstflint unchanged.
//
// device is whatever the implementation's tools accept; for mstflint that is
// a PCI address ("0000:3b:00.0"), an RDMA device name ("mlx5_0") or an mst
// device path.
type Flasher interface {
	// Query reports the device's burned and running firmware and identity.
	Query(ctx context.Context, device string) (Query, error)
	// Burn writes the image file to the device's flash. The running
	// firmware does not change until Reset.
	Burn(ctx context.Context, device, imagePath string) error
	// Reset activates the burned firmware (a firmware reset, not a reboot).
	Reset(ctx context.Context, device string) error
}

// ImageQuerier is implemented by flashers that can read an image file's own
// PSID and version. Pin uses it, when present, to refuse an image whose
// contents do not match the policy entry that names it, even if the digest
// matches (a policy typo pairing the right file with the wrong PSID).
type ImageQuerier interface {
	QueryImage(ctx context.Context, imagePath string) (Query, error)
}
