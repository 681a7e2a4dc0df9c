package ufm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/ufm/ufmfake"
)

func newFake(t *testing.T) (*ufmfake.Server, *Client) {
	fake := ufmfake.New("admin", "secret")
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, &Client{BaseURL: srv.URL, Username: "admin", Password: "secret", HTTP: srv.Client()}
}

func full(gs ...sm.GUID) []sm.Member {
	var ms []sm.Member
	for _, g := range gs {
		ms = append(ms, sm.Member{GUID: g, Membership: sm.Full})
	}
	return ms
}

func TestClientCRUD(t *testing.T) {
	fake, c := newFake(t)
	ctx := context.Background()
	if err := c.CreatePKey(ctx, 0x12, "job-12", true); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePKey(ctx, 0x12, "job-12", true); err == nil {
		t.Fatal("duplicate create accepted")
	}
	ms := []sm.Member{{GUID: 0x1c34da0300608820, Membership: sm.Full}, {GUID: 0x1c34da0300608908, Membership: sm.Limited}}
	if err := c.AddGUIDs(ctx, 0x12, ms, true); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetPKey(ctx, 0x12)
	if err != nil || got.Name != "job-12" || !got.IPoIB || !slices.Equal(got.Members, ms) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := c.SetGUIDs(ctx, 0x12, ms[1:], true); err != nil {
		t.Fatal(err)
	}
	if err := c.AddGUIDs(ctx, 0x12, full(0x1c34da0300608999), true); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveGUIDs(ctx, 0x12, []sm.GUID{0x1c34da0300608908}); err != nil {
		t.Fatal(err)
	}
	snap := fake.Snapshot()[0x12]
	if len(snap.Members) != 1 || snap.Members["1c34da0300608999"] != "full" {
		t.Fatalf("after set/add/remove: %+v", snap)
	}
	if err := c.RemoveGUIDs(ctx, 0x12, []sm.GUID{0x1c34da0300608999}); err != nil {
		t.Fatal(err)
	}
	if p, ok := fake.Snapshot()[0x12]; !ok || len(p.Members) != 0 || p.Name != "job-12" {
		t.Fatalf("removing the last GUID must leave an empty key: %+v %v", p, ok)
	}
	all, err := c.ListPKeys(ctx)
	if err != nil || len(all) != 1 || all[0].PKey != 0x12 {
		t.Fatalf("list: %+v %v", all, err)
	}
	if err := c.DeletePKey(ctx, 0x12); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePKey(ctx, 0x12); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	if _, err := c.GetPKey(ctx, 0x12); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	_, c := newFake(t)
	ctx := context.Background()
	bad := *c
	bad.Password = "wrong"
	if _, err := bad.ListPKeys(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad password: %v", err)
	}
	var api *APIError
	if err := c.CreatePKey(ctx, 0x7fff, "x", true); !errors.As(err, &api) || api.Status != 400 {
		t.Fatalf("0x7fff must be rejected: %v", err)
	}
	down := *c
	down.BaseURL = "http://127.0.0.1:1"
	if _, err := down.ListPKeys(ctx); err == nil {
		t.Fatal("unreachable UFM accepted")
	}
}

// TestFakeFollowsDocs sends raw requests the client never sends, to
// check the fake rejects what the documentation forbids.
func TestFakeFollowsDocs(t *testing.T) {
	fake := ufmfake.New("u", "p")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/ufmRest/resources/pkeys/add", `{"pkey":"0x0"}`, 400},
		{"POST", "/ufmRest/resources/pkeys/add", `{"pkey":"12"}`, 400},
		{"POST", "/ufmRest/resources/pkeys/add", `{"index0":true}`, 400},
		{"POST", "/ufmRest/resources/pkeys/add", `{"pkey":"0x5","bogus":1}`, 400},
		{"POST", "/ufmRest/resources/pkeys/", `{"pkey":"0x5","guids":["1234"]}`, 400},
		{"POST", "/ufmRest/resources/pkeys/", `{"pkey":"0x5","guids":["1c34da0300608820"],"membership":"full","memberships":["full"]}`, 400},
		{"POST", "/ufmRest/resources/pkeys/", `{"pkey":"0x5","guids":["1c34da0300608820","1c34da0300608821"],"memberships":["full"]}`, 400},
		{"POST", "/ufmRest/resources/pkeys/", `{"pkey":"0x5","guids":["1c34da0300608820"],"membership":"both"}`, 400},
		{"POST", "/ufmRest/resources/pkeys/", `{"pkey":"0x5","guids":["1c34da0300608820"]}`, 200},
		{"GET", "/ufmRest/resources/pkeys/0x5?guids_data=true", ``, 200},
		{"PATCH", "/ufmRest/resources/pkeys/0x5", ``, 405},
		{"GET", "/ufmRest/resources/nope", ``, 404},
		{"DELETE", "/ufmRest/resources/pkeys/0x6", ``, 404},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		req.SetBasicAuth("u", "p")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s %s: %d, want %d", c.method, c.path, c.body, resp.StatusCode, c.status)
		}
	}
	if p := fake.Snapshot()[5]; p.Members["1c34da0300608820"] != "full" {
		t.Errorf("default membership is full: %+v", p)
	}
	resp, _ := srv.Client().Get(srv.URL + "/ufmRest/resources/pkeys")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no auth: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func newDriver(t *testing.T) (*ufmfake.Server, *Driver) {
	fake, c := newFake(t)
	d, err := New(Config{Client: c, Min: 0x1000, Max: 0x1fff, Rules: sm.TenantIsolation})
	if err != nil {
		t.Fatal(err)
	}
	return fake, d
}

func TestDriverApply(t *testing.T) {
	fake, d := newDriver(t)
	ctx := context.Background()
	fake.Put(0x0005, ufmfake.PKey{Name: "storage", Members: map[string]string{"0000000000000099": "full"}})
	want := []sm.Partition{
		{Name: "a", PKey: 0x1001, IPoIB: true, Members: full(1, 2)},
		{Name: "b", PKey: 0x1002, IPoIB: true, Members: []sm.Member{{GUID: 3, Membership: sm.Limited}, {GUID: 4, Membership: sm.Full}}},
	}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	n := len(fake.Requests())
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	if r := fake.Requests()[n:]; len(r) != 2 || r[0] != "GET /ufmRest/resources/pkeys" {
		t.Fatalf("idempotent Apply made writes: %v", r)
	}
	// Move port 2 to b, drop a: one PUT, one DELETE; storage untouched.
	want = []sm.Partition{{Name: "b", PKey: 0x1002, IPoIB: true, Members: append(full(2, 4), sm.Member{GUID: 3})}}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	snap := fake.Snapshot()
	if _, ok := snap[0x1001]; ok {
		t.Error("stale owned key not deleted")
	}
	if _, ok := snap[0x0005]; !ok {
		t.Error("key outside the owned range was deleted")
	}
	if m := snap[0x1002].Members; len(m) != 3 || m["0000000000000003"] != "limited" || m["0000000000000002"] != "full" {
		t.Errorf("b: %v", m)
	}
	got, err := d.Observe(ctx, []sm.GUID{2, 3, 7, 0x99})
	if err != nil {
		t.Fatal(err)
	}
	for g, w := range map[sm.GUID]string{2: "0x7fff,0x9002", 3: "0x1002,0x7fff", 7: "0x7fff", 0x99: "0x7fff,0x8005"} {
		if got[g].String() != w {
			t.Errorf("observe %s: %v, want %s", g, got[g], w)
		}
	}
	if err := d.Apply(ctx, []sm.Partition{{Name: "x", PKey: 0x0005}}); err == nil {
		t.Error("key outside the owned range accepted")
	}
	if err := d.Apply(ctx, []sm.Partition{{Name: "1x", PKey: 0x1005}}); err == nil {
		t.Error("invalid desired set accepted")
	}
}

func TestDriverFaults(t *testing.T) {
	fake, d := newDriver(t)
	ctx := context.Background()
	want := []sm.Partition{{Name: "a", PKey: 0x1001, Members: full(1, 2)}, {Name: "b", PKey: 0x1002, Members: full(3)}}

	// UFM fails half way: the error surfaces, and Apply again finishes.
	fake.Inject(ufmfake.Fault{Method: "POST", Path: "/ufmRest/resources/pkeys/add", Status: 503, Count: 1})
	err := d.Apply(ctx, want)
	var api *APIError
	if !errors.As(err, &api) || api.Status != 503 {
		t.Fatalf("want HTTP 503, got %v", err)
	}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}

	// Connection dropped without a reply.
	fake.Inject(ufmfake.Fault{Method: "PUT", Drop: true, Count: 1})
	want[0].Members = full(1)
	if err := d.Apply(ctx, want); err == nil {
		t.Fatal("dropped connection not reported")
	}
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}

	// UFM down for reads: Observe reports it instead of guessing.
	fake.Inject(ufmfake.Fault{Method: "GET", Status: 500, Count: -1})
	if _, err := d.Observe(ctx, []sm.GUID{1}); err == nil {
		t.Fatal("Observe hid a failing UFM")
	}
	fake.ClearFaults()

	// Someone edits our key inside UFM: the next Apply restores it.
	fake.Put(0x1002, ufmfake.PKey{Name: "b", Members: map[string]string{"0000000000000009": "full"}})
	if err := d.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	if m := fake.Snapshot()[0x1002].Members; len(m) != 1 || m["0000000000000003"] != "full" {
		t.Fatalf("drift not repaired: %v", m)
	}
}
