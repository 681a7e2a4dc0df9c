package model

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFirmwareProfileValidate(t *testing.T) {
	sha := strings.Repeat("a", 64)
	ok := []FirmwareProfile{
		{Name: "sriov", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_0000000223", Config: map[string]string{"SRIOV_EN": "1", "NUM_OF_VFS": "8"}}}},
		{Name: "cx6-new", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_0000000223", Version: "20.32.1010", SHA256: sha, File: "fw.bin"}}},
		{Name: "turbo-off", Kind: ProfileBIOS, BIOS: map[string]string{"ProcTurboMode": "Disabled"}},
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	many := map[string]string{}
	for i := range MaxProfileSettings + 1 {
		many["K"+strings.Repeat("X", i)] = "1"
	}
	bad := map[string]FirmwareProfile{
		"no name":          {Kind: ProfileHCA, HCA: ok[0].HCA},
		"dotdot name":      {Name: "a..b", Kind: ProfileHCA, HCA: ok[0].HCA},
		"unknown kind":     {Name: "x", Kind: "gpu", HCA: ok[0].HCA},
		"no rules":         {Name: "x", Kind: ProfileHCA},
		"empty rule":       {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1"}}},
		"image no version": {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1", SHA256: sha, File: "f"}}},
		"version no sha":   {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1", Version: "1.2", File: "f"}}},
		"file path":        {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1", Version: "1.2", SHA256: sha, File: "../etc/shadow"}}},
		"flag value":       {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1", Config: map[string]string{"SRIOV_EN": "1 -y"}}}},
		"key with =":       {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1", Config: map[string]string{"A=B": "1"}}}},
		"bad psid":         {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT-1;rm", Config: map[string]string{"A": "1"}}}},
		"psid twice":       {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{ok[0].HCA[0], ok[0].HCA[0]}},
		"too many":         {Name: "x", Kind: ProfileHCA, HCA: []HCAProfileRule{{PSID: "MT_1", Config: many}}},
		"mixed":            {Name: "x", Kind: ProfileHCA, HCA: ok[0].HCA, BIOS: map[string]string{"A": "1"}},
		"bios with hca":    {Name: "x", Kind: ProfileBIOS, HCA: ok[0].HCA, BIOS: map[string]string{"A": "1"}},
		"escape in desc":   {Name: "x", Kind: ProfileHCA, HCA: ok[0].HCA, Description: "\x1b[31m"},
	}
	for name, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSameSetting(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"True(1)", "1", true}, {"True(1)", "True", true}, {"true", "True(1)", true}, {"False(0)", "True(1)", false},
		{"IB(1)", "ETH(2)", false}, {"8", "8", true}, {"8", "08", false}, {"", "", false}, {"0", "False(0)", true},
		{"True(1)", "0", false},
	} {
		if got := SameSetting(c.a, c.b); got != c.same {
			t.Errorf("SameSetting(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func FuzzFirmwareProfileValidate(f *testing.F) {
	f.Add([]byte(`{"name":"sriov","kind":"hca","hca":[{"psid":"MT_0000000223","config":{"SRIOV_EN":"1"}}]}`))
	f.Add([]byte(`{"name":"t","kind":"bios","bios":{"ProcTurboMode":"Disabled"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p FirmwareProfile
		if json.Unmarshal(b, &p) != nil || p.Validate() != nil {
			return
		}
		// What Validate accepts is bounded and safe on a command line.
		if len(p.HCA) > MaxProfileRules || len(p.BIOS) > MaxProfileSettings || CheckProfileName(p.Name) != nil {
			t.Fatalf("accepted %+v", p)
		}
		for _, r := range p.HCA {
			for k, v := range r.Config {
				if strings.ContainsAny(k+v, " =\t\n") || strings.HasPrefix(k, "-") {
					t.Fatalf("accepted setting %q=%q", k, v)
				}
			}
		}
	})
}

func FuzzValidateTenantImage(f *testing.F) {
	f.Add("mine", "1", int64(4096), "https://x.example/i", int64(4096), 1)
	f.Add("mine", "1", int64(4096), "file:///etc/shadow", int64(4096), 1)
	f.Fuzz(func(t *testing.T, name, version string, size int64, url string, bs int64, blocks int) {
		if blocks < 0 || blocks > 8 {
			return
		}
		img := Image{Name: name, Version: version, Size: size, SHA256: strings.Repeat("a", 64), SourceURL: url, BlockSize: bs, Owner: "alice"}
		for range blocks {
			img.Blocks = append(img.Blocks, strings.Repeat("b", 64))
		}
		if img.ValidateTenantImage() != nil {
			return
		}
		if u := strings.ToLower(url); !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || img.Validate() != nil {
			t.Fatalf("accepted %+v", img)
		}
	})
}
