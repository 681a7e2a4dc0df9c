package redfishmock_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

// A test serves a DMTF mockup with httptest, drives it over HTTP and then
// inspects what the "BMC" recorded. A standalone process would call
// srv.Run(ctx, "127.0.0.1:8000") instead.
func Example() {
	srv, err := redfishmock.New("../../testdata/redfish/dmtf-publications/public-rackmount1", redfishmock.Options{})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	sys := ts.URL + "/redfish/v1/Systems/437XR1138R2"
	resp, err := http.Post(sys+"/Actions/ComputerSystem.Reset", "application/json", strings.NewReader(`{"ResetType":"ForceOff"}`))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("reset:", resp.StatusCode)

	resp, err = http.Get(sys)
	if err != nil {
		panic(err)
	}
	var doc struct{ PowerState string }
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	fmt.Println("power:", doc.PowerState)
	fmt.Printf("recorded: %+v\n", srv.Resets())
	// Output:
	// reset: 204
	// power: Off
	// recorded: [{System:/redfish/v1/Systems/437XR1138R2 ResetType:ForceOff Before:On After:Off}]
}
