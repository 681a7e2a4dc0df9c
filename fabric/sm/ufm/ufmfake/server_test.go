package ufmfake

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFaultCount(t *testing.T) {
	s := New("u", "p")
	srv := httptest.NewServer(s)
	defer srv.Close()
	s.Inject(Fault{Path: "/ufmRest/resources/pkeys", Status: 503, Count: 2})
	get := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/ufmRest/resources/pkeys", nil)
		req.SetBasicAuth("u", "p")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b, c := get(), get(), get(); a != 503 || b != 503 || c != 200 {
		t.Fatalf("statuses %d %d %d, want 503 503 200", a, b, c)
	}
	s.Inject(Fault{Method: "DELETE", Count: -1})
	if get() != 200 {
		t.Fatal("fault for DELETE hit a GET")
	}
	if n := len(s.Requests()); n != 4 {
		t.Fatalf("%d requests logged", n)
	}
}
