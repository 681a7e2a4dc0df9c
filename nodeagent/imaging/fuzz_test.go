package imaging

import (
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// FuzzValidate checks that Validate never panics and that whatever it
// accepts is safe to use as the package promises: names and versions that
// cannot leave a directory or pass for a flag, a canonical digest, a
// positive size, and a URL with an allowed scheme whose file path is
// absolute and clean.
func FuzzValidate(f *testing.F) {
	v := validImage()
	f.Add(v.Name, v.Version, v.Size, v.SHA256, v.SourceURL)
	f.Add("..", "1", int64(1), v.SHA256, "file:///srv/../etc/shadow")
	f.Add("a", "1+b", int64(5), v.SHA256, "file://localhost/srv/%2e%2e/x")
	f.Add("x", "y", int64(-1), strings.ToUpper(v.SHA256), "HTTP://h:80/x")
	f.Add("x", "y", int64(9), v.SHA256, "https://[::1]:8443/x?y=z")
	f.Fuzz(func(t *testing.T, name, version string, size int64, sha, rawURL string) {
		img := Image{Name: name, Version: version, Size: size, SHA256: sha, SourceURL: rawURL}
		if img.Validate() != nil {
			return
		}
		for _, s := range []string{name, version} {
			if s == "" || len(s) > model.MaxImageNameLen || strings.Contains(s, "..") || strings.ContainsAny(s, "/\\ \x00") ||
				s[0] == '-' || s[0] == '.' || path.Base(s) != s {
				t.Fatalf("accepted unsafe token %q", s)
			}
		}
		if strings.Contains(name, "+") {
			t.Fatalf("accepted '+' in name %q", name)
		}
		if size <= 0 || len(sha) != 64 || strings.Trim(sha, "0123456789abcdef") != "" {
			t.Fatalf("accepted size %d sha %q", size, sha)
		}
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatalf("accepted unparseable URL %q", rawURL)
		}
		switch u.Scheme {
		case "http", "https":
			if u.Host == "" || u.User != nil {
				t.Fatalf("accepted %q", rawURL)
			}
		case "file":
			if !path.IsAbs(u.Path) || path.Clean(u.Path) != u.Path || hasDotDotSegment(u.Path) {
				t.Fatalf("accepted file URL %q (path %q)", rawURL, u.Path)
			}
		default:
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		// A source can be built from anything Validate accepts.
		if _, err := NewSource(img, nil); err != nil {
			t.Fatalf("valid image, no source: %v", err)
		}
	})
}

func hasDotDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return true
		}
	}
	return false
}
