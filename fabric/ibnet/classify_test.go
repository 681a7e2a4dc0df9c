package ibnet

import (
	"bytes"
	"strings"
	"testing"
)

// gpuFabric: one pod of 8 leaves with 16 GPU hosts of 8 rails (gpu0001..)
// and one single-HCA host per leaf (node1..node8: logins, storage).
func gpuFabric(t *testing.T) *Fabric {
	t.Helper()
	var buf bytes.Buffer
	if err := GenerateFatTree(&buf, FatTreeConfig{Pods: 1, LeavesPerPod: 8, SpinesPerPod: 2, HostsPerLeaf: 1, RailHostsPerPod: 16, Rails: 8}); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestClassifyByLayout: compute nodes have the common layout (8 HCA
// ports); single-HCA hosts are infrastructure; --infra and the name map's
// roles override, the map winning.
func TestClassifyByLayout(t *testing.T) {
	f := gpuFabric(t)
	c := Classify(f, ClassifyOptions{})
	if c.Layout != 8 || c.Compute() != 16 || len(c.Infra()) != 8 {
		t.Fatalf("layout %d, %d compute, %d infra; want 8, 16, 8", c.Layout, c.Compute(), len(c.Infra()))
	}
	for _, h := range c.Infra() {
		if !strings.HasPrefix(h.Name, "node") || !strings.Contains(h.Why, "1 HCA port") {
			t.Fatalf("infra %+v", h)
		}
	}
	re, err := CompileInfra("gpu000[12]")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := ParseMapRoles(strings.NewReader("0x1 node3 compute\n0x2 gpu0002 compute # it is one\n0x3 ghost infra\n"))
	if err != nil {
		t.Fatal(err)
	}
	c = Classify(f, ClassifyOptions{Infra: re, Roles: roles})
	class := map[string]HostClass{}
	for _, h := range c.Hosts {
		class[h.Name] = h.Class
	}
	for name, want := range map[string]HostClass{"gpu0001": ClassInfra, "gpu0002": ClassCompute, "gpu0003": ClassCompute, "node3": ClassCompute, "node4": ClassInfra} {
		if class[name] != want {
			t.Errorf("%s is %s, want %s", name, class[name], want)
		}
	}
	if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, "ghost") {
		t.Errorf("no warning for the map's unknown host: %q", w)
	}
}

// TestClassifyUniformFabric: on a CPU fabric every host has one HCA port,
// so all are compute until the admin's pattern says otherwise; a whole
// name must match.
func TestClassifyUniformFabric(t *testing.T) {
	var buf bytes.Buffer
	if err := GenerateFatTree(&buf, FatTreeConfig{Pods: 1, LeavesPerPod: 2, SpinesPerPod: 1, HostsPerLeaf: 3}); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if c := Classify(f, ClassifyOptions{}); c.Layout != 1 || c.Compute() != 6 || len(c.Warnings) != 0 {
		t.Fatalf("layout %d, %d compute, warnings %v", c.Layout, c.Compute(), c.Warnings)
	}
	re, _ := CompileInfra("node[12]")
	c := Classify(f, ClassifyOptions{Infra: re})
	if len(c.Infra()) != 2 || c.Infra()[0].Name != "node1" {
		t.Fatalf("infra %+v", c.Infra())
	}
	for _, bad := range []string{"(", strings.Repeat("a", 600)} {
		if _, err := CompileInfra(bad); err == nil {
			t.Errorf("--infra %.20q accepted", bad)
		}
	}
}

// TestClassifyWarnsOnOddLayout: a GPU host with a rail cable down has 7
// ports: still compute, with a warning naming it.
func TestClassifyWarnsOnOddLayout(t *testing.T) {
	var buf bytes.Buffer
	if err := GenerateFatTree(&buf, FatTreeConfig{Pods: 1, LeavesPerPod: 8, SpinesPerPod: 1, RailHostsPerPod: 4, Rails: 8}); err != nil {
		t.Fatal(err)
	}
	// Drop gpu0004's last rail cable: both ends of it (the switch's port
	// line naming the HCA, and the HCA record's port line).
	var kept []string
	inCA := false
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, "Ca") {
			inCA = strings.Contains(l, "gpu0004 mlx5_7")
		}
		if strings.HasPrefix(l, "[") && (inCA || strings.Contains(l, "gpu0004 mlx5_7")) {
			continue
		}
		kept = append(kept, l)
	}
	f, err := Parse(strings.NewReader(strings.Join(kept, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := Classify(f, ClassifyOptions{})
	if c.Compute() != 4 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "gpu0004 has 7 HCA ports") {
		t.Fatalf("%d compute, warnings %v", c.Compute(), c.Warnings)
	}
}

func TestParseMapRoles(t *testing.T) {
	roles, err := ParseMapRoles(strings.NewReader("0x1 login01 infra\n0x2 \"gpu7 mlx5_0\" compute\n0x3 node3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != 2 || roles["login01"] != ClassInfra || roles["gpu7"] != ClassCompute {
		t.Fatalf("roles %v", roles)
	}
	for _, bad := range []string{"0x1 a storage", "0x1 - infra", "0x1 a infra\n0x2 a compute", "0x1 a infra extra"} {
		if _, err := ParseMapRoles(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
