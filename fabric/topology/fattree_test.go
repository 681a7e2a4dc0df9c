package topology

import "testing"

func TestDefaultFatTree(t *testing.T) {
	h := DefaultFatTree.Hosts()
	if len(h) != 32 || h[0] != (Host{"node001", "leaf01"}) || h[31] != (Host{"node032", "leaf04"}) || h[8].Leaf != "leaf02" {
		t.Fatalf("hosts: %v", h)
	}
	if s := DefaultFatTree.SpineNames(); len(s) != 2 || s[1] != "spine02" {
		t.Fatalf("spines: %v", s)
	}
	for _, bad := range []FatTree{{0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {1, 1000, 1000}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
