package model

import (
	"errors"
	"strings"
	"testing"
)

const testCA = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAPMQ0wCwYDVQQDEwRibWNzMB4X
DTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowDzENMAsGA1UEAxMEYm1jczBZ
MBMGByqGSM49AgEGCCqGSM49AwEHA0IABHc=
-----END CERTIFICATE-----
`

func TestValidateBMCEndpoint(t *testing.T) {
	for _, ok := range []string{"https://10.0.0.17", "https://bmc-node001.example.net:8443", "http://127.0.0.1:1234/", "https://[fd00::17]"} {
		if err := ValidateBMCEndpoint(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for ep, want := range map[string]string{
		"": "bytes",
		"https://" + strings.Repeat("a", MaxBMCEndpointBytes): "bytes",
		"ftp://bmc":                 "https://",
		"bmc.example.net":           "https://",
		"https://admin:hunter2@bmc": "credentials",
		"https://bmc/redfish/v1":    "base URL",
		"https://bmc?x=1":           "base URL",
		"https://bmc#frag":          "base URL",
		"https://":                  "no host",
		"https://bmc:0":             "port",
		"https://bmc:99999":         "port",
		"https://bmc\n":             "control",
		"https://bmc\u00e9":         "non-ASCII",
		"https:bmc":                 "no host",
	} {
		err := ValidateBMCEndpoint(ep)
		if err == nil || !errors.Is(err, ErrInvalidBMC) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", ep, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", ep, err)
		}
	}
}

func TestValidateBMCSystemIDAndCA(t *testing.T) {
	for _, ok := range []string{"", "1", "437XR1138R2", "Node0.Blade_3-a"} {
		if err := ValidateBMCSystemID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"-x", ".", "a/b", "a..b", "sys?1", "a b", strings.Repeat("a", 65)} {
		if err := ValidateBMCSystemID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidateBMCCA(testCA); err != nil {
		t.Errorf("a certificate: %v", err)
	}
	for name, bad := range map[string]string{
		"a key":      "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
		"not PEM":    "hello",
		"trailing":   testCA + "junk",
		"too large":  testCA + strings.Repeat(" ", MaxBMCCABytes),
		"cert + key": testCA + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if err := ValidateBMCCA(bad); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestNodeBMCValidateNeedsSealedCredentials(t *testing.T) {
	b := NodeBMC{Endpoint: "https://bmc", Credentials: Sealed{KeyID: "k1", Box: []byte("x")}}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	b.Credentials.Box = nil
	if err := b.Validate(); err == nil {
		t.Fatal("no credentials accepted")
	}
	if d := (NodeBMC{Endpoint: "https://bmc", SystemID: "1", CAPEM: testCA, Credentials: Sealed{KeyID: "k1", Box: []byte("secret")}}).Describe(); strings.Contains(d, "secret") || !strings.Contains(d, "credentials: set") {
		t.Fatalf("describe: %s", d)
	}
}

// FuzzValidateBMC: the validators never panic, and what they accept is
// within the byte limits and printable.
func FuzzValidateBMC(f *testing.F) {
	f.Add("https://10.0.0.17", "1", testCA)
	f.Add("https://u:p@bmc:99999/x?y#z", "../x", "-----BEGIN CERTIFICATE-----\n")
	f.Fuzz(func(t *testing.T, ep, sys, ca string) {
		if ValidateBMCEndpoint(ep) == nil {
			if len(ep) > MaxBMCEndpointBytes || strings.ContainsAny(ep, "@ \n\t?#") {
				t.Fatalf("accepted endpoint %q", ep)
			}
		}
		if ValidateBMCSystemID(sys) == nil && (len(sys) > MaxBMCSystemIDBytes || strings.ContainsAny(sys, "/?# ")) {
			t.Fatalf("accepted system id %q", sys)
		}
		if ValidateBMCCA(ca) == nil && (len(ca) > MaxBMCCABytes || ca != "" && !strings.Contains(ca, "CERTIFICATE")) {
			t.Fatalf("accepted CA %q", ca)
		}
	})
}
