package hca

import "testing"

func TestParseState(t *testing.T) {
	good := map[string]State{
		"4: ACTIVE\n":                  {4, "ACTIVE"},
		"5: LinkUp":                    {5, "LinkUp"},
		"1: DOWN":                      {1, "DOWN"},
		"4: PortConfigurationTraining": {4, "PortConfigurationTraining"},
		"7: Phy Test":                  {7, "Phy Test"},
		"1: CA":                        {1, "CA"},
		"0: <unknown>":                 {0, "<unknown>"},
		"  3:ARMED  ":                  {3, "ARMED"},
		"255: X":                       {255, "X"},
	}
	for in, want := range good {
		got, err := ParseState(in)
		if err != nil || got != want {
			t.Errorf("ParseState(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ACTIVE", "4", "4:", "4: ", "x: ACTIVE", "-1: DOWN", "+4: ACTIVE", "256: X", "1234: X", "4: ACT\x00IVE", "4: \xff"} {
		if got, err := ParseState(in); err == nil {
			t.Errorf("ParseState(%q) = %v, want error", in, got)
		}
	}
	if (State{}).Known() || (State{}).String() != "unknown" || (State{4, "ACTIVE"}).String() != "4: ACTIVE" {
		t.Error("State zero value must be unknown and String must match sysfs")
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]Rate{
		"40 Gb/sec (4X QDR)\n":  {40000, 4, "QDR"},
		"100 Gb/sec (4X EDR)":   {100000, 4, "EDR"},
		"25 Gb/sec (1X EDR)":    {25000, 1, "EDR"},
		"10 Gb/sec (4X)":        {10000, 4, ""},
		"2.5 Gb/sec (1X SDR)":   {2500, 1, "SDR"},
		"56 Gb/sec (4X FDR)":    {56000, 4, "FDR"},
		"40 Gb/sec (4X FDR10)":  {40000, 4, "FDR10"},
		"400 Gb/sec (4X NDR)":   {400000, 4, "NDR"},
		"13.64 Gb/sec (1X FDR)": {13640, 1, "FDR"},
		"600 Gb/sec (12X HDR)":  {600000, 12, "HDR"},
	}
	for in, want := range good {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "40", "40 Gb/sec", "40 Gb/sec (4X QDR", "40 Gb/sec (4 QDR)", "forty Gb/sec (4X QDR)",
		"40 Gb/sec (X QDR)", "40 Gb/sec (4X )", "40 Gb/sec (4X Q-DR)", "40 Gb/sec (4X QDR x)", "1.2345 Gb/sec (1X SDR)",
		"1. Gb/sec (1X SDR)", "-40 Gb/sec (4X QDR)", "9999999999 Gb/sec (4X QDR)", "40 Gb/sec (4X QDR))"} {
		if got, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %+v, want error", in, got)
		}
	}
	for _, r := range []Rate{{2500, 1, "SDR"}, {40000, 4, "QDR"}, {13640, 1, "FDR"}, {10000, 4, ""}} {
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Errorf("round trip %+v -> %q -> %+v, %v", r, r.String(), back, err)
		}
	}
	if (Rate{40000, 4, "QDR"}).Gbps() != 40 || (Rate{}).String() != "unknown" {
		t.Error("Gbps/unknown formatting")
	}
}

func TestParseGUID(t *testing.T) {
	const g = GUID(0x0a7fbc1245efd23b)
	for _, in := range []string{"0a7f:bc12:45ef:d23b", "0a7f:bc12:45ef:d23b\n", "0x0a7fbc1245efd23b", "0X0A7FBC1245EFD23B",
		"0x0A7FBC1245EFD23B", "0a7fbc1245efd23b", "0a:7f:bc:12:45:ef:d2:3b", "a7f:bc12:45ef:d23b", "0xa7fbc1245efd23b"} {
		if got, err := ParseGUID(in); err != nil || got != g {
			t.Errorf("ParseGUID(%q) = %v, %v; want %v", in, got, err, g)
		}
	}
	if got, err := ParseGUID("043f720300f04c46"); err != nil || got != 0x043f720300f04c46 {
		t.Errorf("mstflint Base GUID: %v %v", got, err)
	}
	for _, in := range []string{"", "0x", "N/A", "12345", "0a7f:bc12:45ef", "0a7f:bc12:45ef:d23b:0000", "0a7f:bc12:45ef:d23bb",
		"0a7f::45ef:d23b", "0x0a7fbc1245efd23b0", "0a7fbc1245efd23g", "0a:7f:bc:12:45:ef:d2:3bb", "+a7f:bc12:45ef:d23b", "0x-1"} {
		if got, err := ParseGUID(in); err == nil {
			t.Errorf("ParseGUID(%q) = %v, want error", in, got)
		}
	}
	if g.String() != "0a7f:bc12:45ef:d23b" || g.Hex() != "0x0a7fbc1245efd23b" {
		t.Errorf("formatting: %s %s", g, g.Hex())
	}
}

func TestParseGID(t *testing.T) {
	gid, err := ParseGID("fe80:0000:0000:0000:0002:c903:00a1:b2c3\n")
	if err != nil {
		t.Fatal(err)
	}
	if gid.Prefix() != 0xfe80000000000000 || gid.InterfaceID() != 0x0002c90300a1b2c3 {
		t.Errorf("prefix %x guid %v", gid.Prefix(), gid.InterfaceID())
	}
	if gid.String() != "fe80:0000:0000:0000:0002:c903:00a1:b2c3" {
		t.Errorf("String %s", gid)
	}
	if short, err := ParseGID("fe80::2:c903:a1:b2c3"); err != nil || short != gid {
		t.Errorf("compressed form: %v %v", short, err)
	}
	if v4, err := ParseGID("::ffff:192.0.2.1"); err != nil || v4.InterfaceID() != 0x0000ffffc0000201 {
		t.Errorf("RoCEv2 IPv4 GID: %v %v", v4, err)
	}
	for _, in := range []string{"", "192.0.2.1", "fe80::1%ib0", "fe80:0000", "gggg::1", "fe80:0000:0000:0000:0002:c903:00a1:b2c3:0000"} {
		if got, err := ParseGID(in); err == nil {
			t.Errorf("ParseGID(%q) = %v, want error", in, got)
		}
	}
}

func TestParseCounterAndLID(t *testing.T) {
	cases := []struct {
		in      string
		v       uint64
		ok, err bool
	}{
		{"0\n", 0, true, false},
		{"4294967295", 4294967295, true, false},
		{"18446744073709551615", 18446744073709551615, true, false},
		{"18446744073709551616", 0, false, true},
		{"N/A (no PMA)\n", 0, false, false},
		{"", 0, false, true},
		{"-1", 0, false, true},
		{"12abc", 0, false, true},
		{"0x10", 0, false, true},
	}
	for _, c := range cases {
		v, ok, err := ParseCounter(c.in)
		if v != c.v || ok != c.ok || (err != nil) != c.err {
			t.Errorf("ParseCounter(%q) = %d %v %v; want %d %v err=%v", c.in, v, ok, err, c.v, c.ok, c.err)
		}
	}
	if lid, err := ParseLID("0x1a\n"); err != nil || lid != 26 {
		t.Errorf("ParseLID: %d %v", lid, err)
	}
	for _, in := range []string{"", "26", "0x", "0x10000", "0xzz"} {
		if _, err := ParseLID(in); err == nil {
			t.Errorf("ParseLID(%q): want error", in)
		}
	}
}
