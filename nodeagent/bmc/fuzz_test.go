package bmc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseErrorBody: whatever a BMC sends, the error is one bounded line
// that keeps the status.
func FuzzParseErrorBody(f *testing.F) {
	samples, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "redfish", "sushy-json-samples", "*error*.json"))
	for _, p := range samples {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(400, data)
		}
	}
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(500, []byte(`{"error":{"@Message.ExtendedInfo":{"Message":"one"}}}`))
	f.Add(404, []byte(`{"@Message.ExtendedInfo":[1,"x",null,{"MessageId":2}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseErrorBody(status, body)
		msg := e.Error()
		if e.StatusCode != status {
			t.Fatalf("status %d became %d", status, e.StatusCode)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("multi-line error %q", msg)
		}
		// 4 text fields per message, each bounded, plus the header.
		if max := 64 + (maxMessages+2)*(4*(maxTextLength+8)); len(msg) > max {
			t.Fatalf("error is %d bytes long", len(msg))
		}
		if len(e.Messages) > maxMessages+1 {
			t.Fatalf("%d messages kept", len(e.Messages))
		}
		if utf8.Valid(body) && !utf8.ValidString(msg) {
			t.Fatalf("valid UTF-8 body gave invalid message %q", msg)
		}
	})
}

// FuzzParseResources: the lenient decoders of ComputerSystem and
// UpdateService never panic, and only report what is really there.
func FuzzParseResources(f *testing.F) {
	for _, name := range []string{"public-rackmount1/Systems/437XR1138R2", "public-smartnic/Systems/Card1-SoC", "public-tower/UpdateService"} {
		if data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "redfish", "dmtf-publications", name, "index.json")); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{`{}`, `[]`, `null`, `{"Boot":null}`, `{"Boot":[]}`, `{"Boot":{"BootSourceOverrideTarget@Redfish.AllowableValues":"Pxe"}}`,
		`{"Actions":{"#ComputerSystem.Reset":{"target":5}}}`, `{"Actions":[],"FirmwareInventory":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sys, serr := parseSystem(raw)
		us, uerr := parseUpdateService(raw)
		var probe map[string]json.RawMessage
		isObj := json.Unmarshal(raw, &probe) == nil && probe != nil
		if isObj != (serr == nil) || isObj != (uerr == nil) {
			t.Fatalf("object %v but errors %v / %v", isObj, serr, uerr)
		}
		if !isObj {
			return
		}
		if !sys.HasBoot && sys.AllowedTargets != nil {
			t.Fatal("allowed targets without a Boot object")
		}
		if sys.Actions.Reset != nil && sys.Actions.Reset.Target == "" {
			t.Fatal("reset action without a target")
		}
		if us.SimpleUpdate != nil && us.SimpleUpdate.Target == "" {
			t.Fatal("SimpleUpdate action without a target")
		}
		if _, ok := probe["FirmwareInventory"]; !ok && us.FirmwareInventory != "" {
			t.Fatal("FirmwareInventory link invented")
		}
	})
}

// FuzzParseCredentials: credentials files are parsed without panics, and
// no error ever quotes the password, however the file is broken.
func FuzzParseCredentials(f *testing.F) {
	f.Add("hunter2-long-pass", []byte(`}`))
	f.Add("pw-with-\"quote", []byte(`,"x":1}`))
	f.Add("abcdefgh", []byte(``))
	f.Add("abcdefgh", []byte(`,"password":"other"}`))
	f.Fuzz(func(t *testing.T, pw string, suffix []byte) {
		quoted, _ := json.Marshal(pw)
		for _, data := range [][]byte{
			append([]byte(`{"username":"u","password":`+string(quoted)), suffix...),
			append([]byte(`{"username":"u","password":`+pw), suffix...), // unquoted: a syntax error
		} {
			c, err := parseCredentials(data)
			if err == nil {
				if c.Username == "" || c.Password == "" {
					t.Fatalf("accepted empty credentials from %q", data)
				}
				continue
			}
			// Only meaningful for passwords that cannot occur in our own
			// fixed wording.
			if len(pw) >= 6 && strings.Contains(err.Error(), pw) && !strings.Contains(credentialErrorWords, pw) {
				t.Fatalf("error %q quotes the password %q", err, pw)
			}
		}
	})
}

const credentialErrorWords = `not valid JSON (error at byte) field "username" "password" must be a string ` +
	`empty or truncated JSON expected exactly the fields "username" and "password" ` +
	`unexpected data after the JSON object both "username" and "password" must be non-empty`
