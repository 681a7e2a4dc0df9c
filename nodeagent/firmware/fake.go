package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sync"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

// Method names a Flasher call, for Fake's failure injection and call log.
type Method string

// The Flasher (and ImageQuerier) methods.
const (
	MethodQuery      Method = "Query"
	MethodBurn       Method = "Burn"
	MethodReset      Method = "Reset"
	MethodQueryImage Method = "QueryImage"
)

// FakeDevice is the state of one simulated adapter.
type FakeDevice struct {
	PSID     string
	Burned   string // version on flash
	Running  string // version executing; changes only on Reset
	BaseGUID hca.GUID
	// Config are the adapter's settings (config.go); Reset activates
	// their next-boot values.
	Config map[string]Setting
}

// FakeDeviceFromQuery seeds a simulated adapter from real mstflint output,
// so tests start from states seen on hardware (e.g. a pending reset).
func FakeDeviceFromQuery(q Query) FakeDevice {
	return FakeDevice{PSID: q.PSID, Burned: q.FWVersion, Running: q.Running(), BaseGUID: q.BaseGUID}
}

// FakeImage is what a firmware file "contains", as far as Fake is concerned.
type FakeImage struct {
	PSID    string
	Version string
}

// Call is one recorded Flasher call. ImageSHA256 is the digest of the file
// Burn or QueryImage was given, read at call time.
type Call struct {
	Method      Method
	Device      string
	ImageSHA256 string
	Err         error
}

// Fake is a Flasher that simulates adapters in memory. Images are known by
// the sha256 of the file's bytes, so Burn behaves like the real tool: it
// reads the file it is handed, refuses files it does not recognise or whose
// PSID does not match the device, and changes only the burned version.
// Fake is safe for concurrent use.
type Fake struct {
	// WrongVersion, when set, makes Burn report success but leave this
	// version on flash instead of the image's: a flash that "worked" and
	// did not.
	WrongVersion string
	// ResetDoesNotActivate makes Reset report success without changing
	// the running version.
	ResetDoesNotActivate bool

	mu       sync.Mutex
	devices  map[string]*FakeDevice
	images   map[string]FakeImage
	failures map[Method][]error
	calls    []Call
}

var _ interface {
	Flasher
	ImageQuerier
} = (*Fake)(nil)

// NewFake returns a Fake with no devices or images.
func NewFake() *Fake {
	return &Fake{devices: map[string]*FakeDevice{}, images: map[string]FakeImage{}, failures: map[Method][]error{}}
}

// AddDevice adds or replaces a simulated adapter.
func (f *Fake) AddDevice(name string, d FakeDevice) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d.Config = maps.Clone(d.Config)
	f.devices[name] = &d
}

// AddImage registers image content: a file whose bytes hash to the returned
// digest is an image of img.
func (f *Fake) AddImage(content []byte, img FakeImage) string {
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[digest] = img
	return digest
}

// FailNext queues results for the next calls of m: each call takes one
// entry, and a non-nil entry makes that call fail with it before touching
// the device. A nil entry lets that call through, so FailNext(MethodQuery,
// nil, err) fails the second query only.
func (f *Fake) FailNext(m Method, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[m] = append(f.failures[m], errs...)
}

// Device returns a copy of a simulated adapter's state.
func (f *Fake) Device(name string) (FakeDevice, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[name]
	if !ok {
		return FakeDevice{}, false
	}
	c := *d
	c.Config = maps.Clone(d.Config)
	return c, true
}

// Calls returns the calls made so far, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Query reports the device like mstflint does: "FW Version(Running)" only
// when it differs from flash.
func (f *Fake) Query(ctx context.Context, device string) (Query, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.begin(ctx, MethodQuery, device, "")
	if err != nil {
		return Query{}, err
	}
	q := Query{ImageType: "FS4", FWVersion: d.Burned, RunningVersion: d.Running, PSID: d.PSID, BaseGUID: d.BaseGUID}
	q.RunningReported = d.Running != d.Burned
	q.PendingReset = !SameVersion(d.Burned, d.Running)
	return q, nil
}

// QueryImage reports the PSID and version of a registered image file.
func (f *Fake) QueryImage(ctx context.Context, imagePath string) (Query, error) {
	digest, readErr := fileDigest(imagePath)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.begin(ctx, MethodQueryImage, "", digest); err != nil {
		return Query{}, err
	}
	img, err := f.image(digest, readErr)
	if err != nil {
		f.calls[len(f.calls)-1].Err = err
		return Query{}, err
	}
	return Query{ImageType: "FS4", FWVersion: img.Version, RunningVersion: img.Version, PSID: img.PSID}, nil
}

// Burn writes a registered image to the simulated flash.
func (f *Fake) Burn(ctx context.Context, device, imagePath string) error {
	digest, readErr := fileDigest(imagePath)
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.begin(ctx, MethodBurn, device, digest)
	if err != nil {
		return err
	}
	img, err := f.image(digest, readErr)
	if err == nil && img.PSID != d.PSID {
		err = fmt.Errorf("fake burn: -E- PSID mismatch. The PSID on flash (%s) differs from the PSID in the given image (%s)", d.PSID, img.PSID)
	}
	if err != nil {
		f.calls[len(f.calls)-1].Err = err
		return err
	}
	d.Burned = img.Version
	if f.WrongVersion != "" {
		d.Burned = f.WrongVersion
	}
	return nil
}

// Reset activates the burned version, unless ResetDoesNotActivate.
func (f *Fake) Reset(ctx context.Context, device string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.begin(ctx, MethodReset, device, "")
	if err != nil {
		return err
	}
	if !f.ResetDoesNotActivate {
		d.Running = d.Burned
		for k, c := range d.Config {
			c.Current = c.Next
			d.Config[k] = c
		}
	}
	return nil
}

// begin records a call and applies context, injected failure and device
// lookup, in that order. f.mu must be held.
func (f *Fake) begin(ctx context.Context, m Method, device, digest string) (*FakeDevice, error) {
	f.calls = append(f.calls, Call{Method: m, Device: device, ImageSHA256: digest})
	fail := func(err error) (*FakeDevice, error) {
		f.calls[len(f.calls)-1].Err = err
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if q := f.failures[m]; len(q) > 0 {
		f.failures[m] = q[1:]
		if q[0] != nil {
			return fail(q[0])
		}
	}
	if m == MethodQueryImage {
		return nil, nil
	}
	d, ok := f.devices[device]
	if !ok {
		return fail(fmt.Errorf("fake: -E- Cannot open Device: %s. No such file or directory", device))
	}
	return d, nil
}

func (f *Fake) image(digest string, readErr error) (FakeImage, error) {
	if readErr != nil {
		return FakeImage{}, fmt.Errorf("fake: -E- Cannot open Image: %w", readErr)
	}
	img, ok := f.images[digest]
	if !ok {
		return FakeImage{}, errors.New("fake: -E- No valid image found (unregistered content)")
	}
	return img, nil
}

func fileDigest(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
