package ibsim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// tool names a binary and the Debian package that ships it, so the
// skip message says what to install.
type tool struct{ name, pkg string }

var tools = []tool{
	{"ibsim", "ibsim-utils"},
	{"opensm", "opensm"},
	{"ibnetdiscover", "infiniband-diags"},
	{"smpquery", "infiniband-diags"},
}

// sbinDirs are searched after $PATH: a non-root PATH often lacks the
// sbin directories where Debian puts opensm and the diags.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"}

// lookPath finds a binary in $PATH or the sbin directories.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// UMAD2SimEnv overrides where libumad2sim.so is looked for.
const UMAD2SimEnv = "IBEX_UMAD2SIM"

// umad2sim finds libumad2sim.so: the LD_PRELOAD library that redirects
// libibumad's device access to ibsim.
func umad2sim() (string, error) {
	cands := []string{os.Getenv(UMAD2SimEnv)}
	g, _ := filepath.Glob("/usr/lib/*/umad2sim/libumad2sim.so*")
	cands = append(cands, g...)
	cands = append(cands, "/usr/lib64/umad2sim/libumad2sim.so", "/usr/lib/umad2sim/libumad2sim.so")
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("libumad2sim.so not found")
}

// Available reports whether a simulated fabric can be started here.
// The error names every missing binary and library and the Debian
// package to install, so a test that skips says exactly why.
func Available() error {
	var missing []string
	pkgs := map[string]bool{}
	for _, t := range tools {
		if _, err := lookPath(t.name); err != nil {
			missing = append(missing, t.name)
			pkgs[t.pkg] = true
		}
	}
	if _, err := umad2sim(); err != nil {
		missing = append(missing, "libumad2sim.so")
		pkgs["libumad2sim0"] = true
	}
	if _, err := os.Stat("/proc/net/unix"); err != nil {
		missing = append(missing, "/proc/net/unix")
	}
	if len(missing) == 0 {
		return nil
	}
	var p []string
	for _, t := range append(tools, tool{pkg: "libumad2sim0"}) {
		if pkgs[t.pkg] && !slices.Contains(p, t.pkg) {
			p = append(p, t.pkg)
		}
	}
	return fmt.Errorf("ibsim: missing %s (as root: apt-get install -y %s)",
		strings.Join(missing, ", "), strings.Join(p, " "))
}
