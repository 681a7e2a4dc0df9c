package control

import (
	"maps"
	"testing"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/scheduler"
)

// TestPassMaps: the tenants of the started jobs only, and the reasons
// that differ from the recorded ones only.
func TestPassMaps(t *testing.T) {
	pending := []*model.Job{{ID: 1, Tenant: "a", Reason: "Priority"}, {ID: 2, Tenant: "b"}, {ID: 3, Tenant: "c", Reason: "Resources"}}
	got := startedTenants(pending, []scheduler.Assignment{{JobID: 3}, {JobID: 1}})
	if want := map[uint64]string{1: "a", 3: "c"}; !maps.Equal(got, want) {
		t.Errorf("startedTenants: %v, want %v", got, want)
	}
	reasons := map[uint64]string{1: "Priority", 2: "Resources", 3: "Dependency", 9: "Held"}
	if got, want := changedReasons(pending, reasons), map[uint64]string{2: "Resources", 3: "Dependency"}; !maps.Equal(got, want) {
		t.Errorf("changedReasons: %v, want %v", got, want)
	}
}
