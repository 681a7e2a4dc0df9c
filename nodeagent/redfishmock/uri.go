package redfishmock

import (
	"errors"
	"net/url"
	"strings"
)

// errBadURI is returned for request paths that could address something
// outside the mockup: dot segments, encoded slashes or backslashes, control
// characters. Such requests are answered 400 rather than cleaned, because a
// real BMC has no reason to receive them and a silent rewrite would hide a
// client bug.
var errBadURI = errors.New("invalid URI")

// canonicalPath validates an escaped URL path and returns the key it is
// stored under: decoded segments joined by single slashes, no trailing
// slash, always below /redfish. "/redfish/v1/", "/redfish/v1" and
// "/redfish//v1" all map to "/redfish/v1".
func canonicalPath(escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", errBadURI
	}
	var segs []string
	for _, raw := range strings.Split(escaped, "/") {
		if raw == "" {
			continue
		}
		seg, err := url.PathUnescape(raw)
		if err != nil || !validSegment(seg) {
			return "", errBadURI
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 || segs[0] != "redfish" {
		return "", errBadURI
	}
	return "/" + strings.Join(segs, "/"), nil
}

func validSegment(seg string) bool {
	if seg == "" || seg[0] == '.' {
		// Covers "." and ".." and hidden files; no Redfish URI segment
		// starts with a dot.
		return false
	}
	for _, r := range seg {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// odataID returns the canonical key of a JSON reference value such as
// {"@odata.id": "/redfish/v1/Systems/1"} or of a plain URI string, or "".
func odataID(v any) string {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case map[string]any:
		s, _ = t["@odata.id"].(string)
	}
	if s == "" {
		return ""
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	key, err := canonicalPath(s)
	if err != nil {
		return ""
	}
	return key
}
