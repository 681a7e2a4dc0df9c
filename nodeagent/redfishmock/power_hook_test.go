package redfishmock

import (
	"net/http"
	"testing"
)

// TestOnPowerReportsBootSource: the hook sees every reset that changes
// power or boots the host, with the one-time override the boot consumed,
// and the next boot (override spent) comes from the default order.
func TestOnPowerReportsBootSource(t *testing.T) {
	s := NewServer(loadMockup(t, "public-rackmount1"), Options{})
	sys := "/redfish/v1/Systems/437XR1138R2"
	var got []PowerChange
	s.OnPower(func(c PowerChange) { got = append(got, c) })
	reset := func(rt string) {
		t.Helper()
		wantStatus(t, do(t, s, http.MethodPost, sys+"/Actions/ComputerSystem.Reset", `{"ResetType":"`+rt+`"}`), http.StatusNoContent)
	}
	wantStatus(t, do(t, s, http.MethodPatch, sys, `{"Boot":{"BootSourceOverrideTarget":"Pxe","BootSourceOverrideEnabled":"Once"}}`), http.StatusOK)
	reset("ForceOff")
	reset("On")
	reset("ForceRestart")
	reset("Nmi") // neither power nor a boot: no hook
	want := []PowerChange{
		{System: sys, ResetType: "ForceOff", Before: "On", After: "Off"},
		{System: sys, ResetType: "On", Before: "Off", After: "On", Boots: true, BootTarget: "Pxe"},
		{System: sys, ResetType: "ForceRestart", Before: "On", After: "On", Boots: true},
	}
	if len(got) != len(want) {
		t.Fatalf("hook saw %+v, want %+v", got, want)
	}
	for i := range want {
		got[i].BootMode = "" // whatever the mockup says
		if got[i] != want[i] {
			t.Errorf("change %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
