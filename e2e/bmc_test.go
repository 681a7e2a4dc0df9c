package e2e

import (
	"bytes"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// TestBMCSetEndToEnd: `ibex nodes bmc set` against `ibexd --dev` and a
// Redfish mock BMC: the login file must be private, the node is inspected
// through the BMC and cleaned back to available, the login is on disk only
// sealed (not in the raft log, snapshots or anything else in the data
// directory, nor in ibexd's log) under a key file ibexd created 0600, and
// a restarted ibexd still opens it to deploy the node for a job.
func TestBMCSetEndToEnd(t *testing.T) {
	const password = "Zq7-e2e-bmc-password"
	mock, err := redfishmock.New("../testdata/redfish/handwritten/vmedia-server", redfishmock.Options{Username: "ibex", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(mock)
	defer ts.Close()
	c := startDev(t)
	creds := filepath.Join(t.TempDir(), "bmc.json")
	if err := os.WriteFile(creds, []byte(`{"username":"ibex","password":"`+password+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c.fails(nil, "chmod 600", "nodes", "bmc", "set", "node001", "--endpoint", ts.URL, "--credentials-file", creds)
	if err := os.Chmod(creds, 0o600); err != nil {
		t.Fatal(err)
	}
	c.fails(nil, "https://", "nodes", "bmc", "set", "node001", "--endpoint", "ftp://bmc", "--credentials-file", creds)
	out := c.must("nodes", "bmc", "set", "node001", "--endpoint", ts.URL, "--credentials-file", creds)
	// The state is read after the set commits, and the leader's provisioner
	// may have moved on by then (the full suite saw "inspecting").
	if !strings.Contains(out, "Registered the BMC of node001") || !regexp.MustCompile(`provisioning: (enroll|inspecting|available)\b`).MatchString(out) {
		t.Fatalf("bmc set: %s", out)
	}
	available := func() (bool, string) {
		out, errs, _ := c.ibex("nodes", "show", "node001")
		return strings.Contains(out, "credentials: set") && strings.Contains(out, "Provisioning:  available"), out + errs
	}
	waitFor(t, "node001 inspected and available", 30*time.Second, available)
	if h := c.must("nodes", "history", "node001"); !strings.Contains(h, "provision:inspected") || !strings.Contains(h, "BMC: power On") {
		t.Fatalf("history:\n%s", h)
	}
	if mock.Logins() == 0 {
		t.Fatal("ibexd never logged in to the BMC")
	}

	data := filepath.Join(c.dir, "data")
	if fi, err := os.Stat(filepath.Join(data, "secrets.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v %v", fi, err)
	}
	c.stop(syscall.SIGTERM)
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(password)) {
			t.Errorf("%s holds the BMC password in the clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.log.String(), password) {
		t.Error("ibexd's log holds the BMC password")
	}
	c.start()
	waitFor(t, "node001 still available after a restart", 30*time.Second, available)

	// A job on every node: node001's deployment reads its power through
	// the BMC, with the login the restarted ibexd opened from the key file.
	logins := mock.Logins()
	id := jobID(t, c.must("submit", "-N", "32", "-t", "1m", "--", "true"))
	c.waitState(id, "completed")
	if h := c.must("nodes", "history", "node001"); !strings.Contains(h, "provision:deployed") || !strings.Contains(h, "BMC reports On") {
		t.Fatalf("history after the job:\n%s", h)
	}
	if mock.Logins() == logins {
		t.Fatal("the restarted ibexd did not log in to the BMC")
	}
}
