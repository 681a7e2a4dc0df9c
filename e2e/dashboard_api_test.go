package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDashboardAPIOnImportedFabric checks the JSON API and /metrics of a
// real ibexd over HTTP, on the PSMN X5 dump: the picture's spines and each
// leaf's uplinks come from the imported cabling (not a full fat tree), the
// totals agree with `ibex nodes`, and a request without a token is refused.
func TestDashboardAPIOnImportedFabric(t *testing.T) {
	c := startDev(t, "--fabric", "off")
	dir := filepath.Join("..", "testdata", "ib-topology", "psmn-x5")
	c.must("fabric", "import", "--map", filepath.Join(dir, "X5.map"), filepath.Join(dir, "X5.topofile"))
	nodes := c.nodes()

	resp, err := http.Get("http://" + c.http + "/api/v1/overview")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("overview without a token: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	req, _ := http.NewRequest("GET", "http://"+c.http+"/api/v1/overview", nil)
	req.Header.Set("Authorization", "Bearer "+c.adminToken())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ov struct {
		Fabric struct {
			Spines []string `json:"spines"`
			Leaves []struct {
				Name    string   `json:"name"`
				Nodes   int      `json:"nodes"`
				Uplinks []string `json:"uplinks"`
			} `json:"leaves"`
		} `json:"fabric"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ov)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("overview: %d %v", resp.StatusCode, err)
	}
	if len(ov.Fabric.Spines) == 0 || slices.Contains(ov.Fabric.Spines, "spine01") {
		t.Fatalf("spines %v: want the imported fabric's, not the simulated fat tree's", ov.Fabric.Spines)
	}
	total, cabled := 0, 0
	for _, l := range ov.Fabric.Leaves {
		total += l.Nodes
		for _, u := range l.Uplinks {
			if !slices.Contains(ov.Fabric.Spines, u) {
				t.Errorf("%s is cabled to %s, which is not a spine %v", l.Name, u, ov.Fabric.Spines)
			}
			cabled++
		}
	}
	if total != len(nodes) || cabled == 0 {
		t.Fatalf("overview has %d nodes (ibex nodes: %d) and %d uplinks", total, len(nodes), cabled)
	}

	// /metrics counts the same nodes.
	resp, err = http.Get("http://" + c.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum, leader := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ibex_nodes{") {
			v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			sum += v
		}
		leader = leader || line == "ibex_raft_is_leader 1"
	}
	if int(sum) != len(nodes) || !leader {
		t.Fatalf("/metrics: ibex_nodes sums to %v (want %d), leader %v", sum, len(nodes), leader)
	}
}
