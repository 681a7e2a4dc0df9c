package catrust

import (
	"strings"
	"testing"
)

func TestParsePin(t *testing.T) {
	hexs := strings.Repeat("0a", 32)
	want, err := ParsePin("sha256:" + hexs)
	if err != nil {
		t.Fatal(err)
	}
	if want.String() != "sha256:"+hexs {
		t.Fatalf("String: %s", want)
	}
	colons := strings.TrimSuffix(strings.Repeat("0A:", 32), ":")
	for _, s := range []string{hexs, "SHA256:" + strings.ToUpper(hexs), " sha256:" + hexs + "\n", colons} {
		if p, err := ParsePin(s); err != nil || p != want {
			t.Errorf("%q: %v %v", s, p, err)
		}
	}
	for _, s := range []string{"", "sha256:", "md5:" + hexs, "sha256:" + hexs[:62], "sha256:" + hexs + "00", "sha256:" + strings.Repeat("zz", 32), strings.Repeat("a", 200)} {
		if _, err := ParsePin(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParsePin(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("0a", 32))
	f.Add(strings.TrimSuffix(strings.Repeat("0A:", 32), ":"))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePin(s)
		if err != nil {
			return
		}
		if len(s) > maxPinLen {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if q, err := ParsePin(p.String()); err != nil || q != p {
			t.Fatalf("round trip of %q: %v %v", s, q, err)
		}
	})
}
