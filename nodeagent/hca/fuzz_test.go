package hca

import (
	"strconv"
	"testing"
)

// The fuzz targets check that parsers never panic and that anything they
// accept survives a format/parse round trip, i.e. they do not silently
// mangle values.

func FuzzParseState(f *testing.F) {
	for _, s := range []string{"4: ACTIVE\n", "5: LinkUp\n", "1: CA", "7: Phy Test", "4:", "x: y", "999: z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			return
		}
		if !st.Known() || st.Code < 0 || st.Code > 255 {
			t.Fatalf("accepted %q as %+v", s, st)
		}
		back, err := ParseState(st.String())
		if err != nil || back != st {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, st, st.String(), back, err)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"40 Gb/sec (4X QDR)\n", "25 Gb/sec (1X EDR)", "10 Gb/sec (4X)", "2.5 Gb/sec (1X SDR)", "13.64 Gb/sec (1X FDR)", "0 Gb/sec (0X)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil || !r.Known() {
			return
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, r, r.String(), back, err)
		}
	})
}

func FuzzParseGUID(f *testing.F) {
	for _, s := range []string{"0a7f:bc12:45ef:d23b", "0x0002c90300a1b2c3", "043f720300f04c46", "04:3f:72:03:00:f0:4c:46", "N/A", "0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			return
		}
		for _, form := range []string{g.String(), g.Hex()} {
			back, err := ParseGUID(form)
			if err != nil || back != g {
				t.Fatalf("%q -> %v -> %q -> %v, %v", s, uint64(g), form, uint64(back), err)
			}
		}
	})
}

func FuzzParseGID(f *testing.F) {
	for _, s := range []string{"fe80:0000:0000:0000:0002:c903:00a1:b2c3\n", "fe80::1", "::ffff:192.0.2.1", "fe80::1%ib0", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGID(s)
		if err != nil {
			return
		}
		back, err := ParseGID(g.String())
		if err != nil || back != g {
			t.Fatalf("%q -> %v -> %v, %v", s, g, back, err)
		}
	})
}

func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"0\n", "4294967295", "N/A (no PMA)\n", "18446744073709551616", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok, err := ParseCounter(s)
		if err != nil || !ok {
			return
		}
		back, ok2, err := ParseCounter(strconv.FormatUint(v, 10))
		if err != nil || !ok2 || back != v {
			t.Fatalf("%q -> %d -> %d, %v", s, v, back, err)
		}
	})
}

func FuzzParsePKey(f *testing.F) {
	for _, s := range []string{"0xffff\n", "0x8001", "0x0000", "0X7FFF", "ffff", "0x10000", "0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePKey(s)
		if err != nil {
			return
		}
		back, err := ParsePKey(FormatPKey(k))
		if err != nil || back != k {
			t.Fatalf("%q -> %#x -> %q -> %#x, %v", s, k, FormatPKey(k), back, err)
		}
	})
}
