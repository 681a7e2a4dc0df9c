package model

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Limits for image catalog fields. Names and versions end up in file names, log
// lines and evidence records, so they are kept short and boring.
const (
	MaxImageNameLen = 64
	MaxImageURLLen  = 2048
)

// ErrInvalidImage is wrapped by every Validate error.
var ErrInvalidImage = errors.New("invalid image")

// Validate checks a catalog entry before anything is fetched or written.
// Catalog entries arrive over the network and names may be used to build
// cache paths, so the rules are strict rather than permissive:
//
//   - Name: 1..64 of [A-Za-z0-9._-], starting with a letter or digit
//     (no leading '-' that a tool could read as a flag, no leading '.'),
//     and no ".." anywhere;
//   - Version: the same, plus '+' for semver build metadata;
//   - Size > 0;
//   - SHA256: exactly 64 lowercase hex digits (one spelling, so digests
//     compare as strings);
//   - SourceURL: http or https with a host and no user:password (evidence
//     and logs quote the URL), or file with an absolute, clean path
//     (no "..", "//" or "." segments, even percent-encoded); no fragment.
func (img Image) Validate() error {
	var errs []error
	if err := checkImageToken("name", img.Name, ""); err != nil {
		errs = append(errs, err)
	}
	if err := checkImageToken("version", img.Version, "+"); err != nil {
		errs = append(errs, err)
	}
	if img.Size <= 0 {
		errs = append(errs, fmt.Errorf("size %d: must be > 0", img.Size))
	}
	if err := checkSHA256(img.SHA256); err != nil {
		errs = append(errs, err)
	}
	if err := checkSourceURL(img.SourceURL); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %q: %w", ErrInvalidImage, img.String(), errors.Join(errs...))
}

func checkImageToken(field, s, extra string) error {
	if s == "" || len(s) > MaxImageNameLen {
		return fmt.Errorf("%s: length %d, want 1..%d", field, len(s), MaxImageNameLen)
	}
	if !isAlnum(s[0]) {
		return fmt.Errorf("%s %q: must start with a letter or digit", field, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' && strings.IndexByte(extra, c) < 0 {
			return fmt.Errorf("%s %q: character %q not allowed", field, s, c)
		}
	}
	if strings.Contains(s, "..") {
		return fmt.Errorf("%s %q: \"..\" not allowed", field, s)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func checkSHA256(s string) error {
	if len(s) != 64 {
		return fmt.Errorf("sha256: %d characters, want 64 lowercase hex", len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("sha256: character %q at %d is not lowercase hex", c, i)
		}
	}
	return nil
}

func checkSourceURL(raw string) error {
	if raw == "" || len(raw) > MaxImageURLLen {
		return fmt.Errorf("source URL: length %d, want 1..%d", len(raw), MaxImageURLLen)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] == 0x7f {
			return fmt.Errorf("source URL: control or space character at %d", i)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("source URL: %w", err)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("source URL: fragment not allowed")
	}
	if u.Opaque != "" {
		return fmt.Errorf("source URL %q: opaque form not allowed", raw)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" || u.Hostname() == "" {
			return fmt.Errorf("source URL %q: no host", raw)
		}
		if u.User != nil {
			return fmt.Errorf("source URL: credentials in the URL are not allowed")
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("source URL %q: file URLs must be local", raw)
		}
		if u.User != nil || u.RawQuery != "" || u.ForceQuery {
			return fmt.Errorf("source URL %q: file URLs take a path only", raw)
		}
		p := u.Path
		if strings.IndexFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
			return fmt.Errorf("source URL %q: control character in the decoded path", raw)
		}
		if !strings.HasPrefix(p, "/") || p == "/" || path.Clean(p) != p {
			return fmt.Errorf("source URL %q: file path must be absolute and clean", raw)
		}
	default:
		return fmt.Errorf("source URL %q: scheme %q not allowed (http, https, file)", raw, u.Scheme)
	}
	return nil
}
