package firmware

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Rule pins one board type (PSID) to one firmware version and image file.
// The digest is part of the pin because the version string alone is only
// what the file says about itself: the node agent burns bytes whose sha256
// an administrator approved, nothing else.
type Rule struct {
	PSID    string `json:"psid"`
	Version string `json:"version"`
	// SHA256 is the hex digest of the image file (lower case after
	// NewPolicy).
	SHA256 string `json:"sha256"`
	// Image is the file name in the FileStore.
	Image string `json:"image"`
}

// Policy maps PSIDs to Rules. The zero Policy pins nothing, so every device
// is UnknownPSID under it. Build one with NewPolicy or ParsePolicy, which
// validate every rule.
type Policy struct {
	rules map[string]Rule
}

// NewPolicy validates rules and indexes them by PSID. Two rules for one
// PSID are an error: a board can only be pinned to one version.
func NewPolicy(rules ...Rule) (Policy, error) {
	p := Policy{rules: make(map[string]Rule, len(rules))}
	for i, r := range rules {
		r.SHA256 = strings.ToLower(strings.TrimSpace(r.SHA256))
		if err := r.validate(); err != nil {
			return Policy{}, fmt.Errorf("firmware policy: rule %d: %w", i, err)
		}
		if _, dup := p.rules[r.PSID]; dup {
			return Policy{}, fmt.Errorf("firmware policy: rule %d: PSID %s pinned twice", i, r.PSID)
		}
		p.rules[r.PSID] = r
	}
	return p, nil
}

// ParsePolicy reads a JSON policy: {"rules": [{"psid": ..., "version": ...,
// "sha256": ..., "image": ...}, ...]}. Unknown fields are refused so a
// misspelt key cannot silently unpin a board.
func ParsePolicy(data []byte) (Policy, error) {
	var doc struct {
		Rules []Rule `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Policy{}, fmt.Errorf("firmware policy: %w", err)
	}
	if dec.More() {
		return Policy{}, fmt.Errorf("firmware policy: trailing data after the JSON object")
	}
	return NewPolicy(doc.Rules...)
}

// Rule returns the rule for a PSID.
func (p Policy) Rule(psid string) (Rule, bool) {
	r, ok := p.rules[psid]
	return r, ok
}

// Rules returns all rules sorted by PSID.
func (p Policy) Rules() []Rule {
	out := make([]Rule, 0, len(p.rules))
	for _, r := range p.rules {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PSID < out[j].PSID })
	return out
}

func (r Rule) validate() error {
	if err := checkPSID(r.PSID); err != nil {
		return err
	}
	if err := checkVersion(r.Version); err != nil {
		return fmt.Errorf("PSID %s: %w", r.PSID, err)
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("PSID %s: sha256 %q is not 64 hex digits", r.PSID, r.SHA256)
	}
	if r.Image == "" || strings.ContainsAny(r.Image, "\x00\n") {
		return fmt.Errorf("PSID %s: image file name %q is empty or not printable", r.PSID, r.Image)
	}
	return nil
}
