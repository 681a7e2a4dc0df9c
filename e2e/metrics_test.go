package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// TestMetricsMeasureTheServer: after a job, /metrics reports scheduling
// passes, raft apply latency and partition reconfigurations that happened.
func TestMetricsMeasureTheServer(t *testing.T) {
	c := startDev(t)
	id := jobID(t, c.must("submit", "-N", "2", "-t", "1m", "--", "true"))
	c.waitState(id, "completed")
	resp, err := http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"ibex_scheduling_pass_duration_seconds_count", "ibex_raft_apply_duration_seconds_count", "ibex_partition_reconfigurations_total"} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("%s missing:\n%s", name, body)
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v < 1 {
			t.Errorf("%s = %v after a job, want at least 1", name, v)
		}
	}
}
