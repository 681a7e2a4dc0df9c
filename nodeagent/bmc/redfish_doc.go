package bmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// The decoders in this file read what this package needs from Redfish
// resources, beyond gofish's typed view: gofish's Boot is a value struct,
// so it cannot say whether the system has a Boot object at all; it keeps
// links private; and it cannot tell a missing property from an empty one.
// They are lenient: a property of the wrong type is treated as absent
// rather than failing the whole operation, since vendors get annotations
// wrong more often than the core properties. Every input is bounded
// (maxResourceBytes, maxMembers, maxLinks).

// Limits on what a BMC can make this package hold.
const (
	maxResourceBytes = 4 << 20 // one resource; big iLO collections are ~100 KiB
	maxMembers       = 1024    // members of a collection
	maxLinks         = 64      // links of one kind in one resource
	maxURILength     = 1024
)

// systemDoc is what this package reads from a ComputerSystem.
type systemDoc struct {
	HasBoot bool
	// HasOverride is false when the Boot object has none of the
	// BootSourceOverride properties (HPE Cray EX nodes only have
	// BootOrder): the system cannot be told to boot from something once.
	HasOverride    bool
	AllowedTargets []string // nil when the system does not constrain them
	HasMode        bool     // Boot has BootSourceOverrideMode
	Mode           string   // its value, e.g. "Legacy" or "UEFI"
	AllowedModes   []string // nil when unconstrained
	BiosVersion    *string  // nil when the property is absent
	ManagedBy      []string // Links.ManagedBy
	VirtualMedia   string   // the system's VirtualMedia collection (v1.13+)
	Actions        struct {
		Reset *actionDoc
	}
}

type actionDoc struct {
	Target string
	// Allowable holds each parameter's inline
	// "<param>@Redfish.AllowableValues", when given.
	Allowable map[string][]string
}

// updateServiceDoc is the part of an UpdateService this package needs;
// gofish keeps both links private and returns nil, nil for a missing one,
// which cannot be told apart from an empty inventory.
type updateServiceDoc struct {
	FirmwareInventory string
	SimpleUpdate      *actionDoc
}

// softwareDoc is a SoftwareInventory entry.
type softwareDoc struct {
	ODataID     string
	ID          string
	Name        string
	Version     string
	Updateable  bool
	RelatedItem []string
}

// managerDoc is the part of a Manager this package reads.
type managerDoc struct {
	ODataID         string
	ID              string
	Name            string
	FirmwareVersion *string
	VirtualMedia    string
}

// mediaDoc is a VirtualMedia resource.
type mediaDoc struct {
	ODataID    string
	ID         string
	MediaTypes []string
	Image      string
	Inserted   bool
	// HasImage is true when the resource has an Image property, which
	// BMCs without the InsertMedia action let clients PATCH.
	HasImage bool
	Insert   *actionDoc
	Eject    *actionDoc
}

func parseSystem(raw []byte) (systemDoc, error) {
	var doc systemDoc
	top, err := objectOf(raw)
	if err != nil {
		return doc, err
	}
	if boot, ok := object(top["Boot"]); ok {
		doc.HasBoot = true
		for _, k := range []string{"BootSourceOverrideTarget", "BootSourceOverrideEnabled", "BootSourceOverrideTarget@Redfish.AllowableValues"} {
			if _, ok := boot[k]; ok {
				doc.HasOverride = true
			}
		}
		doc.AllowedTargets = stringsOf(boot["BootSourceOverrideTarget@Redfish.AllowableValues"])
		if m, ok := boot["BootSourceOverrideMode"]; ok {
			doc.HasMode = true
			doc.Mode = stringOf(m)
		}
		doc.AllowedModes = stringsOf(boot["BootSourceOverrideMode@Redfish.AllowableValues"])
	}
	if v, ok := optString(top["BiosVersion"]); ok {
		doc.BiosVersion = &v
	}
	links, _ := object(top["Links"])
	doc.ManagedBy = linksOf(links["ManagedBy"])
	doc.VirtualMedia = linkOf(top["VirtualMedia"])
	actions, _ := object(top["Actions"])
	doc.Actions.Reset = parseAction(actions["#ComputerSystem.Reset"])
	return doc, nil
}

func parseUpdateService(raw []byte) (updateServiceDoc, error) {
	var doc updateServiceDoc
	top, err := objectOf(raw)
	if err != nil {
		return doc, err
	}
	doc.FirmwareInventory = linkOf(top["FirmwareInventory"])
	actions, _ := object(top["Actions"])
	doc.SimpleUpdate = parseAction(actions["#UpdateService.SimpleUpdate"])
	return doc, nil
}

// parseCollection returns the member links of a resource collection, in
// the BMC's order. It trusts Members, not Members@odata.count, which some
// BMCs get wrong (public-rackmount1's FirmwareInventory).
func parseCollection(raw []byte) ([]string, error) {
	top, err := objectOf(raw)
	if err != nil {
		return nil, err
	}
	var members []json.RawMessage
	if m, ok := top["Members"]; ok && (len(m) == 0 || m[0] != '[' || json.Unmarshal(m, &members) != nil) {
		return nil, errors.New("collection Members is not an array")
	}
	if len(members) > maxMembers {
		return nil, fmt.Errorf("collection has %d members, more than the %d this client reads", len(members), maxMembers)
	}
	out := make([]string, 0, len(members))
	for _, m := range members {
		if id := linkOf(m); id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

func parseSoftware(raw []byte) (softwareDoc, error) {
	var doc softwareDoc
	top, err := objectOf(raw)
	if err != nil {
		return doc, err
	}
	doc.ODataID = uriOf(stringOf(top["@odata.id"]))
	doc.ID, doc.Name, doc.Version = stringOf(top["Id"]), stringOf(top["Name"]), stringOf(top["Version"])
	doc.Updateable = boolOf(top["Updateable"])
	doc.RelatedItem = linksOf(top["RelatedItem"])
	return doc, nil
}

func parseManager(raw []byte) (managerDoc, error) {
	var doc managerDoc
	top, err := objectOf(raw)
	if err != nil {
		return doc, err
	}
	doc.ODataID = uriOf(stringOf(top["@odata.id"]))
	doc.ID, doc.Name = stringOf(top["Id"]), stringOf(top["Name"])
	if v, ok := optString(top["FirmwareVersion"]); ok {
		doc.FirmwareVersion = &v
	}
	doc.VirtualMedia = linkOf(top["VirtualMedia"])
	return doc, nil
}

func parseMedia(raw []byte) (mediaDoc, error) {
	var doc mediaDoc
	top, err := objectOf(raw)
	if err != nil {
		return doc, err
	}
	doc.ODataID = uriOf(stringOf(top["@odata.id"]))
	doc.ID = stringOf(top["Id"])
	doc.MediaTypes = stringsOf(top["MediaTypes"])
	_, doc.HasImage = top["Image"]
	doc.Image = stringOf(top["Image"])
	doc.Inserted = boolOf(top["Inserted"])
	actions, _ := object(top["Actions"])
	doc.Insert = parseAction(actions["#VirtualMedia.InsertMedia"])
	doc.Eject = parseAction(actions["#VirtualMedia.EjectMedia"])
	return doc, nil
}

// parseActionInfo returns the AllowableValues an ActionInfo gives for
// param, or nil when it gives none.
func parseActionInfo(raw []byte, param string) ([]string, error) {
	top, err := objectOf(raw)
	if err != nil {
		return nil, err
	}
	var params []json.RawMessage
	_ = json.Unmarshal(top["Parameters"], &params)
	for _, p := range params {
		if pm, ok := object(p); ok && stringOf(pm["Name"]) == param {
			return stringsOf(pm["AllowableValues"]), nil
		}
	}
	return nil, nil
}

func parseAction(raw json.RawMessage) *actionDoc {
	a, ok := object(raw)
	if !ok {
		return nil
	}
	target := uriOf(stringOf(a["target"]))
	if target == "" {
		return nil
	}
	doc := &actionDoc{Target: target}
	for k, v := range a {
		param, ok := strings.CutSuffix(k, "@Redfish.AllowableValues")
		if !ok || param == "" {
			continue
		}
		if doc.Allowable == nil {
			doc.Allowable = make(map[string][]string)
		}
		doc.Allowable[param] = stringsOf(v)
	}
	return doc
}

// objectOf decodes a resource, which must be a JSON object, into its
// members. Redfish property names are case-sensitive, which
// encoding/json's struct decoding is not; members are therefore looked up
// by exact name in the map.
func objectOf(raw []byte) (map[string]json.RawMessage, error) {
	if len(raw) > maxResourceBytes {
		return nil, fmt.Errorf("BMC returned a resource larger than %d bytes", maxResourceBytes)
	}
	obj, ok := object(raw)
	if !ok {
		return nil, errors.New("BMC returned a resource that is not a JSON object")
	}
	return obj, nil
}

// object decodes raw if it is a JSON object.
func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func boolOf(raw json.RawMessage) bool {
	var b bool
	return json.Unmarshal(raw, &b) == nil && b
}

// stringOf returns raw as a string, or "" when it is not one.
func stringOf(raw json.RawMessage) string {
	s, _ := optString(raw)
	return s
}

// optString returns raw as a string and whether it is one.
func optString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || raw[0] != '"' {
		return "", false
	}
	return s, true
}

// stringsOf returns the strings of a JSON array (non-strings skipped), or
// nil when raw is not an array.
func stringsOf(raw json.RawMessage) []string {
	var list []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &list) != nil || raw[0] != '[' {
		return nil
	}
	out := make([]string, 0, min(len(list), maxLinks))
	for _, e := range list {
		if s, ok := optString(e); ok && len(out) < maxLinks {
			out = append(out, s)
		}
	}
	return out
}

// linkOf returns the URI of a {"@odata.id": ...} reference, or "".
func linkOf(raw json.RawMessage) string {
	obj, ok := object(raw)
	if !ok {
		return ""
	}
	return uriOf(stringOf(obj["@odata.id"]))
}

// linksOf returns the URIs of an array of references.
func linksOf(raw json.RawMessage) []string {
	var list []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []string
	for _, e := range list {
		if u := linkOf(e); u != "" && len(out) < maxLinks {
			out = append(out, u)
		}
	}
	return out
}

// uriOf returns s if it is a URI this client will request from the BMC:
// an absolute path under /redfish/, without dot segments, query,
// fragment, backslashes or control characters. Anything else is "", so a
// hostile BMC cannot steer requests off the service. A trailing slash is
// dropped so that URIs compare equal however the BMC spelt them.
func uriOf(s string) string {
	if len(s) > maxURILength || !utf8.ValidString(s) || strings.Contains(s, "//") || strings.ContainsAny(s, "?#\\") ||
		strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	s = strings.TrimSuffix(s, "/")
	if !strings.HasPrefix(s, "/redfish/") {
		return ""
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "." || seg == ".." {
			return ""
		}
	}
	return s
}

// under reports whether uri is base or a resource below it.
func under(uri, base string) bool {
	return uri == base || strings.HasPrefix(uri, base+"/")
}

// getRaw reads the resource at uri, bounded by maxResourceBytes.
func getRaw(c *gofish.APIClient, uri string) ([]byte, error) {
	if uriOf(uri) == "" {
		return nil, fmt.Errorf("the BMC linked to %q, which is not a Redfish resource URI", clean(uri))
	}
	resp, err := c.Get(uri)
	if err != nil {
		return nil, err
	}
	defer schemas.DeferredCleanupHTTPResponse(resp)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	if len(data) > maxResourceBytes {
		return nil, fmt.Errorf("%s: resource larger than %d bytes", uri, maxResourceBytes)
	}
	return data, nil
}
