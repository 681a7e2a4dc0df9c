package bmc

import (
	"context"
	"slices"
	"strings"
	"testing"
)

const exBlade = "handwritten/ex-blade"

// TestBladeSystemSelection: on a two-node HPE Cray EX-like blade the
// caller must pick a node, and each node's client reports the BMC's shared
// firmware and its own node's entries, never the other node's.
func TestBladeSystemSelection(t *testing.T) {
	_, ts := startMock(t, exBlade)
	ctx := context.Background()

	_, err := Dial(ctx, testConfig(ts.URL, ""))
	if err == nil || !strings.Contains(err.Error(), "Node0, Node1") || !strings.Contains(err.Error(), "set SystemID") {
		t.Errorf("Dial without SystemID on a blade: %v", err)
	}
	if _, err := Dial(ctx, testConfig(ts.URL, "Node2")); err == nil || !strings.Contains(err.Error(), `"Node2" not found`) ||
		!strings.Contains(err.Error(), "Node0, Node1") {
		t.Errorf("Dial with an unknown node: %v", err)
	}

	shared := []string{"BMC", "Bootloader", "FPGA0", "Recovery"}
	for _, tc := range []struct {
		node, other, bios string
	}{
		{"Node0", "Node1", "ex235n.bios-1.2.1"},
		{"Node1", "Node0", "ex235n.bios-1.1.0"},
	} {
		r := dial(t, testConfig(ts.URL, tc.node))
		if r.SystemURI() != "/redfish/v1/Systems/"+tc.node {
			t.Fatalf("selected %s", r.SystemURI())
		}
		fw, err := r.FirmwareInventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		versions := map[string]string{}
		for _, f := range fw {
			ids = append(ids, f.ID)
			versions[f.ID] = f.Version
			if strings.HasPrefix(f.ID, tc.other+".") {
				t.Errorf("%s's inventory has %s's entry %s", tc.node, tc.other, f.ID)
			}
		}
		want := append(slices.Clone(shared), tc.node+".BIOS", tc.node+".HPCNet0", tc.node+".HPCNet1", tc.node+".ManagementEthernet")
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("%s: firmware %v, want %v", tc.node, ids, want)
		}
		if versions[tc.node+".BIOS"] != tc.bios {
			t.Errorf("%s: BIOS %q, want %q", tc.node, versions[tc.node+".BIOS"], tc.bios)
		}
	}
}

// TestFirmwareRelatedItem: where the BMC links entries to what they belong
// to, the link decides, over the Id prefix.
func TestFirmwareRelatedItem(t *testing.T) {
	srv, ts := startMock(t, exBlade)
	coll := "/redfish/v1/UpdateService/FirmwareInventory"
	d := resource(t, srv, coll)
	members := d["Members"].([]any)
	for id, related := range map[string]string{
		"HostNIC":       "/redfish/v1/Systems/Node0/EthernetInterfaces/HSN0", // under Node0
		"Node1.Retimer": "/redfish/v1/Systems/Node0",                         // named after Node1, linked to Node0
		"Enclosure":     "/redfish/v1/Chassis/Enclosure",                     // shared
	} {
		uri := coll + "/" + id
		must(t, srv.SetResource(uri, map[string]any{
			"@odata.id": uri, "@odata.type": "#SoftwareInventory.v1_1_0.SoftwareInventory",
			"Id": id, "Name": id, "Version": "1.0", "RelatedItem": []any{map[string]any{"@odata.id": related}},
		}))
		members = append(members, map[string]any{"@odata.id": uri})
	}
	d["Members"] = members
	must(t, srv.SetResource(coll, d))

	ids := func(node string) []string {
		fw, err := dial(t, testConfig(ts.URL, node)).FirmwareInventory(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fw {
			out = append(out, f.ID)
		}
		return out
	}
	n0, n1 := ids("Node0"), ids("Node1")
	for _, id := range []string{"HostNIC", "Node1.Retimer", "Enclosure"} {
		if !slices.Contains(n0, id) {
			t.Errorf("Node0 lacks %s: %v", id, n0)
		}
	}
	for _, id := range []string{"HostNIC", "Node1.Retimer"} {
		if slices.Contains(n1, id) {
			t.Errorf("Node1 has Node0's %s: %v", id, n1)
		}
	}
	if !slices.Contains(n1, "Enclosure") {
		t.Errorf("Node1 lacks the shared Enclosure entry: %v", n1)
	}
}

func TestNamedAfter(t *testing.T) {
	for _, tc := range []struct {
		entry, system string
		want          bool
	}{
		{"Node0.BIOS", "Node0", true},
		{"node0.bios", "Node0", true},
		{"Node0_NIC", "Node0", true},
		{"Node0", "Node0", false},
		{"Node01.BIOS", "Node0", false},
		{"BMC", "Node0", false},
		{"1.BIOS", "1", true},
		{"10.BIOS", "1", false},
		{"x", "", false},
	} {
		if got := namedAfter(tc.entry, tc.system); got != tc.want {
			t.Errorf("namedAfter(%q, %q) = %v", tc.entry, tc.system, got)
		}
	}
}

// TestURIOf: links from the BMC are requested only when they are plain
// Redfish paths.
func TestURIOf(t *testing.T) {
	for in, want := range map[string]string{
		"/redfish/v1/Systems/1":   "/redfish/v1/Systems/1",
		"/redfish/v1/Systems/1/":  "/redfish/v1/Systems/1",
		"/redfish/v1/":            "/redfish/v1",
		"/redfish/":               "",
		"/redfish":                "",
		"https://evil/redfish/v1": "",
		"//evil/redfish/v1":       "",
		"/redfish/v1//x":          "",
		"/redfish/v1/../../etc":   "",
		"/redfish/v1/./x":         "",
		"/redfish/v1/x?$expand=*": "",
		"/redfish/v1/x#frag":      "",
		"/redfish/v1/a\\b":        "",
		"/redfish/v1/a\nb":        "",
		"/redfish/v1/\xff":        "",
		"":                        "",
	} {
		if got := uriOf(in); got != want {
			t.Errorf("uriOf(%q) = %q, want %q", in, got, want)
		}
	}
}
