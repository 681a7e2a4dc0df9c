package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/internal/execrun"
)

// TestRESTExamplesAgainstIbexd: the example clients in examples/ run
// against the real `ibexd --dev` — rest-submit over HTTP/JSON with only the
// standard library, grpc-submit over gRPC after a health check — and a
// tenant's REST call cannot see the admin's job.
func TestRESTExamplesAgainstIbexd(t *testing.T) {
	c := startDev(t, "--leaves", "1", "--nodes-per-leaf", "4")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../examples/rest-submit", "../examples/grpc-submit")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build examples: %v\n%s", err, out)
	}
	admin := c.adminToken()
	pin, err := os.ReadFile(filepath.Join(c.dir, "data", "tls", "ca.pin"))
	if err != nil {
		t.Fatal(err)
	}
	example := func(name string, env []string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), env...)
		out, errb, err := execrun.Output(cmd)
		code, ran := execrun.ExitCode(err)
		if !ran {
			t.Fatal(err)
		}
		return string(out) + string(errb), code
	}

	out, code := example("rest-submit", []string{"IBEX_TOKEN=" + admin},
		"-url", "http://"+c.http, "-N", "2", "-name", "viarest", "--", "sh", "-c", "echo out-$IBEX_NODEID")
	if code != 0 || !strings.Contains(out, "completed on node[001-002]") || !strings.Contains(out, "node001: out-0") || !strings.Contains(out, "node002: out-1") {
		t.Fatalf("rest-submit: exit %d\n%s", code, out)
	}
	id := strings.Fields(strings.SplitN(out, "\n", 2)[0])[2] // "submitted job N"
	if j := c.job(id); j.State != "completed" || j.Nodelist != "node[001-002]" {
		t.Fatalf("the CLI shows job %s as %+v", id, j)
	}
	// The job's exit code is the example's.
	if out, code := example("rest-submit", []string{"IBEX_TOKEN=" + admin}, "-url", "http://"+c.http, "--", "sh", "-c", "exit 3"); code != 3 {
		t.Fatalf("rest-submit of a failing job: exit %d\n%s", code, out)
	}
	// Refused: the message is ibexd's, nothing submitted.
	if out, code := example("rest-submit", []string{"IBEX_TOKEN=" + admin}, "-url", "http://"+c.http, "-N", "99", "--", "true"); code != 2 || !strings.Contains(out, "HTTP 400") {
		t.Fatalf("rest-submit -N 99: exit %d\n%s", code, out)
	}

	out, code = example("grpc-submit", []string{"IBEX_TOKEN=" + admin, "IBEX_CA_PIN=" + strings.TrimSpace(string(pin))},
		"-addr", c.api, "-N", "1", "--", "echo", "via-grpc")
	if code != 0 || !strings.Contains(out, "completed on node") || !strings.Contains(out, "via-grpc") {
		t.Fatalf("grpc-submit: exit %d\n%s", code, out)
	}

	// A tenant sees neither the job nor its output over REST.
	bob := strings.TrimSpace(c.must("tenant", "create", "bob"))
	bob = bob[strings.LastIndex(bob, " ")+1:]
	for _, path := range []string{"/v1/jobs/" + id, "/v1/jobs/" + id + "/logs"} {
		req, _ := http.NewRequest("GET", "http://"+c.http+path, nil)
		req.Header.Set("Authorization", "Bearer "+bob)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("bob GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+c.http+"/v1/jobs?all=true", nil)
	req.Header.Set("Authorization", "Bearer "+bob)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Jobs []any }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != 200 || len(list.Jobs) != 0 {
		t.Fatalf("bob's listing: %d %v %v", resp.StatusCode, list, err)
	}
}
