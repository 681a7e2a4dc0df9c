package cli

import (
	"testing"
	"time"
)

func TestParseTimeLimit(t *testing.T) {
	ok := map[string]time.Duration{
		"5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "30": 30 * time.Minute, "10:30": 10*time.Minute + 30*time.Second,
		"1:00:00": time.Hour, "2-00": 48 * time.Hour, "90": 90 * time.Minute, "36:00:00": 36 * time.Hour, "1-02:03:04": 26*time.Hour + 3*time.Minute + 4*time.Second,
	}
	for in, want := range ok {
		if got, err := ParseTimeLimit(in); err != nil || got != want {
			t.Errorf("ParseTimeLimit(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5m", "0", "0s", "abc", "1:2:3:4", "5x", "1-", "::", "1-1:1:1:1", "99999999",
		"25:99:99", "10:60", "1:60:00", "1-24", "1-00:60", "1-00:00:60"} {
		if d, err := ParseTimeLimit(in); err == nil {
			t.Errorf("ParseTimeLimit(%q) = %v, want error", in, d)
		}
	}
}

func FuzzParseTimeLimit(f *testing.F) {
	for _, s := range []string{"5m", "1-02:03:04", "10:30", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimeLimit(s)
		if err == nil && d <= 0 {
			t.Fatalf("%q parsed to non-positive %v", s, d)
		}
	})
}

func TestParseSwitches(t *testing.T) {
	if n, d, err := ParseSwitches("2@30m"); err != nil || n != 2 || d != 30*time.Minute {
		t.Fatalf("2@30m: %d %v %v", n, d, err)
	}
	if n, d, err := ParseSwitches("1"); err != nil || n != 1 || d != 0 {
		t.Fatalf("1: %d %v %v", n, d, err)
	}
	for _, bad := range []string{"", "0", "x", "2@", "2@soon", "-1@5m"} {
		if _, _, err := ParseSwitches(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseSwitchLimit(t *testing.T) {
	for in, want := range map[string][3]int{"2@30m": {1, 2, 30}, "pod:1": {2, 1, 0}, "leaf:3@1m": {1, 3, 1}, "3:2@5m": {3, 2, 5}} {
		level, n, d, err := ParseSwitchLimit(in)
		if err != nil || level != want[0] || n != want[1] || d != time.Duration(want[2])*time.Minute {
			t.Errorf("%q: level %d n %d wait %v err %v, want %v", in, level, n, d, err, want)
		}
	}
	for _, bad := range []string{"pod:", "rack:1", "0:1", "17:1", "pod:0", ":1", "pod:1@soon", "pod:pod:1"} {
		if _, _, _, err := ParseSwitchLimit(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseSwitchLimit(f *testing.F) {
	for _, s := range []string{"1", "2@30m", "pod:1@1h", "leaf:2", "3:1", "x:1@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		level, n, d, err := ParseSwitchLimit(s)
		if err == nil && (level < 1 || level > 16 || n < 1 || n > 1<<16 || d < 0) {
			t.Fatalf("%q parsed to level %d n %d wait %v", s, level, n, d)
		}
	})
}
