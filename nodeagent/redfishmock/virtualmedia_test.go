package redfishmock

import (
	"net/http"
	"slices"
	"testing"
)

const (
	vmediaServer = "handwritten/vmedia-server"
	vmCD         = "/redfish/v1/Managers/bmc/VirtualMedia/CD1"
	vmInsert     = vmCD + "/Actions/VirtualMedia.InsertMedia"
	vmEject      = vmCD + "/Actions/VirtualMedia.EjectMedia"
)

func media(tb testing.TB, s *Server, uri string) map[string]any {
	tb.Helper()
	d, err := s.Resource(uri)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestInsertEjectMediaActions(t *testing.T) {
	s := NewServer(loadMockup(t, vmediaServer), Options{})
	wantStatus(t, do(t, s, http.MethodPost, vmInsert, `{"Image":"http://img.example/boot.iso","TransferProtocolType":"HTTP"}`), http.StatusNoContent)
	d := media(t, s, vmCD)
	if d["Image"] != "http://img.example/boot.iso" || d["ImageName"] != "boot.iso" || d["Inserted"] != true ||
		d["WriteProtected"] != true || d["ConnectedVia"] != "URI" || d["TransferProtocolType"] != "HTTP" {
		t.Errorf("after InsertMedia: %v", d)
	}
	// Inserting over inserted media is refused: eject first.
	wantError(t, do(t, s, http.MethodPost, vmInsert, `{"Image":"http://img.example/other.iso"}`), http.StatusConflict, "ResourceInUse")
	wantStatus(t, do(t, s, http.MethodPost, vmEject, ``), http.StatusNoContent)
	d = media(t, s, vmCD)
	if d["Image"] != nil || d["Inserted"] != false || d["ConnectedVia"] != "NotConnected" {
		t.Errorf("after EjectMedia: %v", d)
	}
	wantStatus(t, do(t, s, http.MethodPost, vmEject, `{}`), http.StatusNoContent) // ejecting nothing is fine
	wantStatus(t, do(t, s, http.MethodPost, vmInsert, `{"Image":"https://img.example/x.iso","Inserted":false,"WriteProtected":false}`), http.StatusNoContent)
	if d := media(t, s, vmCD); d["Inserted"] != false || d["WriteProtected"] != false {
		t.Errorf("Inserted/WriteProtected false: %v", d)
	}
	var via []string
	for _, m := range s.Media() {
		via = append(via, m.Via)
	}
	if want := []string{"InsertMedia", "EjectMedia", "EjectMedia", "InsertMedia"}; !slices.Equal(via, want) {
		t.Errorf("Media() %v, want %v", via, want)
	}
}

func TestInsertMediaRejects(t *testing.T) {
	s := NewServer(loadMockup(t, vmediaServer), Options{})
	for _, tc := range []struct{ body, id string }{
		{`{}`, "ActionParameterMissing"},
		{`{"Image":""}`, "ActionParameterMissing"},
		{`{"Image":5}`, "ActionParameterValueTypeError"},
		{`{"Image":"boot.iso"}`, "ActionParameterValueNotInList"},
		{`{"Image":"http://x/a b.iso"}`, "ActionParameterValueNotInList"},
		{`{"Image":"nfs://x/boot.iso","TransferProtocolType":"NFS"}`, "ActionParameterValueNotInList"},
		{`{"Image":"http://x/boot.iso","Inserted":"yes"}`, "ActionParameterValueTypeError"},
		{`{"Image":"http://x/boot.iso","Force":true}`, "ActionParameterUnknown"},
		{`{"Image":`, "MalformedJSON"},
	} {
		wantError(t, do(t, s, http.MethodPost, vmInsert, tc.body), http.StatusBadRequest, tc.id)
	}
	wantError(t, do(t, s, http.MethodPost, vmEject, `{"Image":"x"}`), http.StatusBadRequest, "ActionParameterUnknown")
	if n := len(s.Media()); n != 0 {
		t.Errorf("%d rejected requests recorded", n)
	}
	if d := media(t, s, vmCD); d["Inserted"] != false || d["Image"] != nil {
		t.Errorf("rejected requests changed the device: %v", d)
	}
	// The DMTF mockups declare no media actions: POSTing one is refused.
	r := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	wantError(t, do(t, r, http.MethodPost, "/redfish/v1/Systems/437XR1138R2/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia",
		`{"Image":"http://x/boot.iso"}`), http.StatusBadRequest, "ActionNotSupported")
}

// TestPatchVirtualMedia covers the older way, on a DMTF mockup whose media
// resources have no actions.
func TestPatchVirtualMedia(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	cd := "/redfish/v1/Systems/437XR1138R2/VirtualMedia/CD1"
	wantStatus(t, do(t, s, http.MethodPatch, cd, `{"Image":null,"Inserted":false}`), http.StatusOK)
	if d := media(t, s, cd); d["Image"] != nil || d["Inserted"] != false {
		t.Errorf("after PATCH eject: %v", d)
	}
	wantStatus(t, do(t, s, http.MethodPatch, cd, `{"Image":"https://img.example/boot.iso","Inserted":true,"WriteProtected":true}`), http.StatusOK)
	if d := media(t, s, cd); d["Image"] != "https://img.example/boot.iso" || d["Inserted"] != true || d["ConnectedVia"] != "URI" {
		t.Errorf("after PATCH insert: %v", d)
	}
	for _, tc := range []struct{ body, id string }{
		{`{"Image":5}`, "PropertyValueTypeError"},
		{`{"Image":"not a uri"}`, "PropertyValueTypeError"},
		{`{"Inserted":"yes"}`, "PropertyValueTypeError"},
		{`{"MediaTypes":["CD"]}`, "PropertyNotWritable"},
		{`{"Bogus":1}`, "PropertyUnknown"},
		{`{}`, "PropertyUnknown"},
	} {
		wantError(t, do(t, s, http.MethodPatch, cd, tc.body), http.StatusBadRequest, tc.id)
	}
	if d := media(t, s, cd); d["Image"] != "https://img.example/boot.iso" {
		t.Errorf("rejected PATCHes changed the device: %v", d)
	}
	if n := len(s.Media()); n != 2 {
		t.Errorf("%d media requests recorded, want 2", n)
	}
}
