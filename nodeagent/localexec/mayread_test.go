package localexec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMayReadAsTheJobUser: the agent (root) looks into a tenant's program
// only where the job user could read it: not through a closed directory,
// not a file of mode 0600, but a world-readable file, a file of the job
// user's group, or anything when jobs run as root.
func TestMayReadAsTheJobUser(t *testing.T) {
	root, nobody := jobUserRoot(t)
	r := mustRunner(t, root, Options{User: nobody})
	base := filepath.Dir(root)
	write := func(rel string, mode os.FileMode) string {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("\x7fELF"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := write("open/prog", 0o755)
	secret := write("open/secret", 0o600)
	closed := write("closed/prog", 0o755)
	if err := os.Chmod(filepath.Dir(closed), 0o700); err != nil {
		t.Fatal(err)
	}
	group := write("open/group", 0o640)
	if err := os.Chown(group, 0, int(nobody.GID)); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "open/link")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	for path, ok := range map[string]bool{open: true, group: true, secret: false, closed: false, link: false, "/etc/shadow": false} {
		err := r.MayRead(path)
		if (err == nil) != ok {
			t.Errorf("MayRead(%s) = %v, want allowed=%v", path, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "permission denied for the job user nobody") && !os.IsNotExist(err) {
			t.Errorf("MayRead(%s): %v", path, err)
		}
	}
	asRoot := mustRunner(t, root+"-root", Options{User: &JobUser{Name: "root"}})
	if err := asRoot.MayRead(secret); err != nil {
		t.Errorf("jobs running as root may read anything: %v", err)
	}
}
