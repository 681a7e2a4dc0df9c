package dashboard

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

func TestAPIRejectsMissingOrBadTokens(t *testing.T) {
	h := newHandler(newFake(topology.DefaultFatTree, admin), Options{})
	for _, path := range []string{"/api/v1/overview", "/api/v1/nodes/node001", "/api/v1/events"} {
		for _, auth := range []string{"", "Basic YWRtaW46eA==", "Bearer ", "Bearer tok-nobody", "tok-admin"} {
			r := httptest.NewRequest("GET", path, nil)
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var body apiError
			if w.Code != 401 || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error == "" {
				t.Errorf("%s with %q: %d %q, want 401 with a JSON error", path, auth, w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: content type %q", path, ct)
			}
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: no WWW-Authenticate challenge", path)
			}
		}
	}
	if w := get(t, h, "/api/v1/overview", "tok-admin"); w.Code != 200 {
		t.Fatalf("admin token: %d %s", w.Code, w.Body)
	}
	if w := get(t, h, "/api/v1/nodes/node999", "tok-admin"); w.Code != 404 || !strings.Contains(w.Body.String(), `"error"`) {
		t.Fatalf("unknown node: %d %s", w.Code, w.Body)
	}
}

// The page itself carries no data, so it loads without a token (it holds
// the login form), but with a policy that keeps it from loading anything
// from elsewhere.
func TestPageIsServedWithoutTokenUnderAStrictPolicy(t *testing.T) {
	h := newHandler(newFake(topology.DefaultFatTree, admin), Options{})
	for path, ctype := range map[string]string{"/": "text/html", "/assets/app.js": "javascript", "/assets/fabric.js": "javascript",
		"/assets/panels.js": "javascript", "/assets/style.css": "text/css"} {
		w := get(t, h, path, "")
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	if w := get(t, h, "/nope", ""); w.Code != 404 {
		t.Errorf("/nope: %d", w.Code)
	}
	page := get(t, h, "/", "").Body.String()
	for _, ext := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(page, ext) {
			t.Errorf("page refers to %q: everything must come from ibexd", ext)
		}
	}
}

func TestTenantSeesOthersAnonymised(t *testing.T) {
	src := newFake(topology.DefaultFatTree, admin, alice, bob)
	src.update(func(st *fsm.State) {
		run(st, submit(st, "alice", "alice-sim", 2), "node001", "node002")
		run(st, submit(st, "bob", "bob-secret-sim", 2), "node003", "node004")
		submit(st, "bob", "bob-queued", 8)
		n := st.Nodes["node010"]
		n.Drained, n.DrainBy, n.DrainNote = true, "admin", "bad DIMM"
	})
	h := newHandler(src, Options{})

	w := get(t, h, "/api/v1/overview", "tok-alice")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "bob") {
		t.Fatalf("alice's overview names bob or his jobs:\n%s", w.Body)
	}
	var ov Overview
	if err := json.Unmarshal(w.Body.Bytes(), &ov); err != nil {
		t.Fatal(err)
	}
	if ov.Viewer != (Viewer{Tenant: "alice"}) {
		t.Errorf("viewer %+v", ov.Viewer)
	}
	tiles := map[string]NodeTile{}
	for _, n := range ov.Nodes {
		tiles[n.Name] = n
	}
	if len(tiles) != 32 {
		t.Fatalf("%d tiles", len(tiles))
	}
	want := map[string]NodeTile{
		"node001": {Name: "node001", Leaf: "leaf01", State: "allocated", Tenant: "alice", Job: 1},
		"node003": {Name: "node003", Leaf: "leaf01", State: "allocated", Tenant: "other"},
		"node005": {Name: "node005", Leaf: "leaf01", State: "ready"},
		"node010": {Name: "node010", Leaf: "leaf02", State: "drained"},
	}
	for name, w := range want {
		if tiles[name] != w {
			t.Errorf("%s: %+v, want %+v", name, tiles[name], w)
		}
	}
	if len(ov.Running.Jobs) != 2 || ov.Running.Jobs[0].ID != 1 || ov.Running.Jobs[0].Nodelist != "node[001-002]" {
		t.Errorf("alice's own running job: %+v", ov.Running.Jobs)
	}
	other := ov.Running.Jobs[1]
	if other.ID != 0 || other.Name != "" || other.Nodelist != "" || other.Tenant != "other" || other.NumNodes != 2 || other.State != "running" {
		t.Errorf("bob's running job as alice sees it: %+v", other)
	}
	if q := ov.Queue; q.Total != 1 || q.Jobs[0].ID != 0 || q.Jobs[0].Tenant != "other" || q.Jobs[0].NumNodes != 8 {
		t.Errorf("queue as alice sees it: %+v", q)
	}
	if l := ov.Fabric.Leaves[0]; l.Tenants["alice"] != 2 || l.Tenants["other"] != 2 || len(l.Tenants) != 2 {
		t.Errorf("leaf01 tenants as alice sees them: %v", l.Tenants)
	}

	var d NodeDetail
	w = get(t, h, "/api/v1/nodes/node003", "tok-alice")
	if json.Unmarshal(w.Body.Bytes(), &d); d.Tenant != "other" || d.Job == nil || d.Job.ID != 0 || d.Job.Name != "" || strings.Contains(w.Body.String(), "bob") {
		t.Errorf("node003 as alice sees it: %s", w.Body)
	}
	w = get(t, h, "/api/v1/nodes/node010", "tok-alice")
	if json.Unmarshal(w.Body.Bytes(), &d); d.DrainReason != "bad DIMM" || d.DrainBy != "" {
		t.Errorf("drained node as alice sees it: %s", w.Body)
	}
	for _, slot := range []string{`"hardware":null`, `"firmware":null`, `"image":null`, `"hygiene":null`} {
		if !strings.Contains(w.Body.String(), slot) {
			t.Errorf("node detail lacks %s (not reported): %s", slot, w.Body)
		}
	}

	// The admin sees everyone by name.
	w = get(t, h, "/api/v1/overview", "tok-admin")
	if err := json.Unmarshal(w.Body.Bytes(), &ov); err != nil {
		t.Fatal(err)
	}
	if r := ov.Running.Jobs[1]; r.ID != 2 || r.Name != "bob-secret-sim" || r.Tenant != "bob" || r.Nodelist != "node[003-004]" {
		t.Errorf("admin's view of bob's job: %+v", r)
	}
	if q := ov.Queue.Jobs[0]; q.Name != "bob-queued" || q.Tenant != "bob" {
		t.Errorf("admin's queue: %+v", q)
	}
	w = get(t, h, "/api/v1/nodes/node010", "tok-admin")
	if json.Unmarshal(w.Body.Bytes(), &d); d.DrainBy != "admin" {
		t.Errorf("admin's view of a drained node: %s", w.Body)
	}
}

func TestViewerLabels(t *testing.T) {
	a := Viewer{Tenant: "alice"}
	for owner, want := range map[string]string{"": "", "alice": "alice", "bob": "other", "admin": "other"} {
		if got := a.label(owner); got != want {
			t.Errorf("alice sees %q as %q, want %q", owner, got, want)
		}
	}
	if (Viewer{Tenant: "admin", Admin: true}).label("bob") != "bob" {
		t.Error("admin must see names")
	}
}
