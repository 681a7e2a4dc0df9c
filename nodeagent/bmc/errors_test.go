package bmc

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibex-hpc/ibex/nodeagent/redfishmock"
)

func sushySample(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "redfish", "sushy-json-samples", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestVendorErrorBodies replays sushy's captured error bodies from a BMC
// and checks that each surfaces as a one-line error naming the status, the
// message ids and their text.
func TestVendorErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		key    string // a MessageId key that must be found
		text   string // text that must appear in Error()
	}{
		{"error.json", 400, "PropertyValueNotInList", "The value Red for the property IndicatorLED is not in the list"},
		// ExtendedInfo as a single object instead of an array.
		{"error_single_ext_info.json", 415, "GeneralError", "unsupported media type"},
		{"credentials_required_error.json", 400, "ActionParameterMissing", "requires the parameter Password"},
		{"transfer_proto_required_error.json", 400, "ActionParameterMissing", "TransferProtocolType"},
		{"transfer_method_required_error.json", 400, "GeneralError", "'TransferMethod' property"},
		{"session_error.json", 401, "NoValidSession", "There is no valid session"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			srv, ts := startMock(t, "public-rackmount1")
			r := dial(t, testConfig(ts.URL, ""))
			if err := srv.InjectFault(redfishmock.Fault{
				Method: http.MethodPost, Path: "/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset",
				Status: tc.status, Body: sushySample(t, tc.file),
			}); err != nil {
				t.Fatal(err)
			}
			err := r.PowerOff(context.Background())
			var re *RedfishError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want a *RedfishError", err, err)
			}
			msg := err.Error()
			if re.StatusCode != tc.status || !re.HasMessage(tc.key) || !strings.Contains(msg, tc.text) {
				t.Errorf("status %d, HasMessage(%s) %v, message:\n%s", re.StatusCode, tc.key, re.HasMessage(tc.key), msg)
			}
			if !strings.HasPrefix(msg, "bmc: power off: redfish HTTP ") || strings.ContainsAny(msg, "\n\r\t{") {
				t.Errorf("not a clean one-line message: %q", msg)
			}
		})
	}
}

func TestNonJSONErrorBody(t *testing.T) {
	srv, ts := startMock(t, "public-tower")
	r := dial(t, testConfig(ts.URL, ""))
	must(t, srv.InjectFault(redfishmock.Fault{Path: "/redfish/v1/Systems/437XR1238R2", Status: http.StatusBadGateway,
		Body: []byte("<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>\n")}))
	_, err := r.PowerState(context.Background())
	var re *RedfishError
	if !errors.As(err, &re) || re.StatusCode != 502 || !strings.Contains(err.Error(), "502 Bad Gateway") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q", err)
	}
	must(t, srv.InjectFault(redfishmock.Fault{Path: "/redfish/v1/Systems/437XR1238R2", Status: http.StatusInternalServerError, Times: 1}))
	srv.ClearFaults()
	must(t, srv.InjectFault(redfishmock.Fault{Path: "/redfish/v1/Systems/437XR1238R2", Status: http.StatusInternalServerError}))
	if _, err := r.PowerState(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 500: (empty body)") {
		t.Errorf("empty body: %v", err)
	}
}

// TestPasswordNeverInErrors collects errors from every failure path that
// involves the password and checks none of them contains it.
func TestPasswordNeverInErrors(t *testing.T) {
	srv, ts := startMock(t, "public-rackmount1")
	ctx := context.Background()
	var errs []error
	record := func(err error) {
		if err == nil {
			t.Errorf("expected an error")
		}
		errs = append(errs, err)
	}

	// Wrong password, with sessions and with Basic auth.
	wrong := testConfig(ts.URL, "")
	wrong.Password = "not-" + testPassword
	_, err := Dial(ctx, wrong)
	record(err)
	var re *RedfishError
	if !errors.As(err, &re) || re.StatusCode != 401 {
		t.Errorf("wrong password: %v", err)
	}
	wrong.BasicAuth = true
	_, err = Dial(ctx, wrong)
	record(err)

	// A BMC that echoes the request, password included, in its error, in
	// plain, JSON-escaped and URL-escaped forms.
	r := dial(t, testConfig(ts.URL, ""))
	for _, echoed := range []string{testPassword, strings.ReplaceAll(testPassword, "-", `\u002d`), "Zq7-very-secret-pw%21"} {
		srv.ClearFaults()
		must(t, srv.InjectFault(redfishmock.Fault{Method: http.MethodPatch, Path: "/redfish/v1/Systems/437XR1138R2", Status: 400,
			Body: []byte(`{"error":{"code":"Base.1.8.GeneralError","message":"bad request {\"UserName\":\"ibex-admin\",\"Password\":\"` + echoed + `\"}",` +
				`"@Message.ExtendedInfo":[{"MessageId":"Base.1.8.PropertyUnknown","Message":"Password ` + echoed + ` unknown","Resolution":"drop ` + echoed + `"}]}}`)}))
		err = r.SetOneTimeBoot(ctx, BootPxe)
		record(err)
		if !strings.Contains(err.Error(), redacted) {
			t.Errorf("echoed password not marked as redacted: %v", err)
		}
		if errors.As(err, &re) && strings.Contains(re.Messages[0].Text+re.Messages[0].Resolution+re.Message, testPassword) {
			t.Errorf("RedfishError fields keep the password: %+v", re)
		}
	}

	// Invalid configurations.
	for _, cfg := range []Config{
		{Endpoint: "https://ibex-admin:" + testPassword + "@bmc", Password: testPassword, Username: testUser},
		{Endpoint: "https//ibex-admin:" + testPassword + "@bmc", Password: testPassword, Username: testUser},
		{Endpoint: "ftp://" + testPassword, Password: testPassword, Username: testUser},
		{Endpoint: "https://bmc/" + testPassword, Password: testPassword, Username: testUser},
		{Endpoint: "https://bmc", Password: testPassword},
	} {
		_, err := Dial(ctx, cfg)
		record(err)
		record(cfg.Validate())
	}

	// A BMC that is not there.
	gone := testConfig("http://127.0.0.1:1", "")
	_, err = Dial(ctx, gone)
	record(err)

	for _, err := range errs {
		noSecret(t, err)
	}
}

func TestParseErrorBodyShapes(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{`{"error":{"code":"C","message":"M"}}`, "redfish HTTP 400 C: M"},
		{`{"@Message.ExtendedInfo":[{"MessageId":"Base.1.0.X","Message":"top level"}]}`, "redfish HTTP 400 [Base.1.0.X: top level]"},
		{`{"error":{"message":"multi\nline\ttext"}}`, "redfish HTTP 400: multi line text"},
		{`{"error":{"code":7,"message":["x"]}}`, `redfish HTTP 400: {"error":{"code":7,"message":["x"]}}`},
		{`not json`, "redfish HTTP 400: not json"},
		{``, "redfish HTTP 400: (empty body)"},
	} {
		if got := parseErrorBody(400, []byte(tc.body)).Error(); got != tc.want {
			t.Errorf("parseErrorBody(%q) = %q, want %q", tc.body, got, tc.want)
		}
	}
	long := `{"error":{"message":"` + strings.Repeat("x", 5000) + `","@Message.ExtendedInfo":[` +
		strings.Repeat(`{"Message":"m"},`, 50) + `{"Message":"last"}]}}`
	e := parseErrorBody(500, []byte(long))
	if len(e.Message) > maxTextLength+3 || len(e.Messages) != maxMessages+1 || !strings.Contains(e.Error(), "43 more") {
		t.Errorf("limits not applied: %d chars, %d messages: %.200s", len(e.Message), len(e.Messages), e.Error())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
