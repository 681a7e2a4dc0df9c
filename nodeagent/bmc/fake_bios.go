package bmc

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

var _ BIOSSettings = (*Fake)(nil)

// SetBIOS gives the fake's BIOS these attributes (and drops anything
// pending), as if the host shipped with them or someone changed them
// behind ibex's back.
func (f *Fake) SetBIOS(attrs map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bios, f.biosNext = maps.Clone(attrs), nil
}

// BIOS returns what the fake's BIOS runs now.
func (f *Fake) BIOS() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.bios)
}

// BIOSAttributes implements BIOSSettings.
func (f *Fake) BIOSAttributes(ctx context.Context) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodBIOSAttributes); err != nil {
		return nil, err
	}
	if f.bios == nil {
		return nil, fmt.Errorf("bmc: fake: no Bios resource: %w", ErrUnsupported)
	}
	return maps.Clone(f.bios), nil
}

// SetBIOSAttributes implements BIOSSettings like the Redfish client
// against the mock: unknown names are refused whole, the rest is pending
// until a reset that boots (apply time OnReset).
func (f *Fake) SetBIOSAttributes(ctx context.Context, attrs map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, MethodSetBIOSAttributes); err != nil {
		return "", err
	}
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if _, ok := f.bios[k]; !ok {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("bmc: fake: %s: %w", strings.Join(bad, ", "), ErrUnknownBIOSAttribute)
	}
	if f.biosNext == nil {
		f.biosNext = map[string]string{}
	}
	maps.Copy(f.biosNext, attrs)
	return "OnReset", nil
}

// applyBIOS is POST taking the pending attributes. Caller holds f.mu.
func (f *Fake) applyBIOS() {
	maps.Copy(f.bios, f.biosNext)
	f.biosNext = nil
}
