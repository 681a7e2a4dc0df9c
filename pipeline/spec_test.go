package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func TestParseArray(t *testing.T) {
	for _, c := range []struct {
		in, want string
		count    int
		throttle int
	}{
		{"1-100%10", "1-100", 100, 10},
		{"1,3,5", "1-5:2", 3, 0},
		{"0-15:4", "0-12:4", 4, 0},
		{"7", "7", 1, 0},
		{"5,1-3", "1-3,5", 4, 0},
		{"1,3", "1,3", 2, 0},
		{"0-9999", "0-9999", 10000, 0},
	} {
		set, thr, err := ParseArray(c.in)
		if err != nil || set.String() != c.want || set.Count() != c.count || thr != c.throttle {
			t.Errorf("%q: %q (%d tasks) %%%d, %v; want %q (%d) %%%d", c.in, set.String(), set.Count(), thr, err, c.want, c.count, c.throttle)
		}
	}
	for in, msg := range map[string]string{
		"":                                  "no indices",
		"%5":                                "no indices",
		"1-10%0":                            "throttle",
		"1-10%x":                            "throttle",
		"10-1":                              "backwards",
		"1-3,2":                             "twice",
		"0-10000":                           "above the largest",
		"-1":                                "not an index",
		"1:2":                               "needs a range",
		"1-9:0":                             "step",
		"a-b":                               "not an index",
		"1,,2":                              "not an index",
		"+1":                                "not an index",
		"1-5%3%2":                           "throttle",
		strings.Repeat("1", MaxArraySpec+1): "bytes",
		strings.Repeat("1,", 300) + "1":     "items",
		"0-9000:3,1-9001:3":                 "ranges",
	} {
		if _, _, err := ParseArray(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%.40q: %v, want an error about %q", in, err, msg)
		}
	}
}

func TestIndexSetRemove(t *testing.T) {
	set, _, _ := ParseArray("0-12:4,20-22")
	set = set.Remove(4)
	set = set.Remove(21)
	if got := set.String(); got != "0,8-12:4,20,22" || set.Count() != 5 || set.Contains(4) || !set.Contains(8) {
		t.Fatalf("after removing 4 and 21: %q (%d)", got, set.Count())
	}
	if set.Min() != 0 || set.Max() != 22 {
		t.Fatalf("min %d max %d", set.Min(), set.Max())
	}
}

func TestParseDependency(t *testing.T) {
	ds, err := ParseDependency("afterok:12:13,afterany:14,singleton,afterok:12,after:15,afternotok:16")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatDependency(ds); got != "afterok:12:13,afterany:14,singleton,after:15,afternotok:16" || len(ds) != 6 {
		t.Fatalf("%q (%d)", got, len(ds))
	}
	for in, msg := range map[string]string{
		"afterok:12?afterany:13":                 "'?'",
		"afterok":                                "needs job ids",
		"afterok:":                               "not a job id",
		"afterok:0":                              "not a job id",
		"afterok:x":                              "not a job id",
		"afterok:12+5":                           "delay",
		"afterok:12_7":                           "array task",
		"aftercorr:12":                           "not supported",
		"later:12":                               "not a dependency type",
		"singleton:3":                            "no job ids",
		"afterok:18446744073709551616":           "not a job id",
		strings.Repeat("a", MaxDependencySpec+1): "bytes",
		"afterok" + strings.Repeat(":1", 0) + func() string {
			var b strings.Builder
			for i := 1; i <= MaxDependencies+1; i++ {
				b.WriteString(":")
				b.WriteString(strings.Repeat("9", 1) + string(rune('0'+i%10)) + string(rune('0'+i/10)))
			}
			return b.String()
		}(): "more than",
	} {
		if _, err := ParseDependency(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%.50q: %v, want an error about %q", in, err, msg)
		}
	}
}

func TestParseBegin(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 12, 5, 10, 30, 0, 0, loc)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"now+1hour":            now.Add(time.Hour),
		"now+90":               now.Add(90 * time.Second),
		"+30m":                 now.Add(30 * time.Minute),
		"+1h30m":               now.Add(90 * time.Minute),
		"+2days":               now.Add(48 * time.Hour),
		"16:00":                time.Date(2026, 12, 5, 16, 0, 0, 0, loc),
		"09:00":                time.Date(2026, 12, 6, 9, 0, 0, 0, loc),
		"2026-12-24T08:00":     time.Date(2026, 12, 24, 8, 0, 0, 0, loc),
		"2026-12-24":           time.Date(2026, 12, 24, 0, 0, 0, 0, loc),
		"2026-12-05T12:00:00Z": time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
		"midnight":             time.Date(2026, 12, 6, 0, 0, 0, 0, loc),
		"teatime":              time.Date(2026, 12, 5, 16, 0, 0, 0, loc),
	} {
		got, err := ParseBegin(in, now, loc)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                                  "empty",
		"tomorrowish":                       "not a time",
		"+-5m":                              "not an offset",
		"now+5parsec":                       "not an offset",
		"+400days":                          "ahead",
		"2030-01-01":                        "ahead",
		"+99999999999999h":                  "offset",
		strings.Repeat("1", MaxBeginSpec+1): "bytes",
	} {
		if _, err := ParseBegin(in, now, loc); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want an error about %q", in, err, msg)
		}
	}
}

// The parsers take tenant input: whatever they are given, they return
// within their bounds or an error, and what they accept round-trips.
func FuzzParseArray(f *testing.F) {
	for _, s := range []string{"1-100%10", "1,3,5", "0-15:4", "9999", "1-3,2", "0-9999:1%10000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, thr, err := ParseArray(s)
		if err != nil {
			return
		}
		if n := set.Count(); n < 1 || n > MaxArrayTasks || set.Min() < 0 || set.Max() > MaxArrayIndex || thr < 0 || thr > MaxArrayTasks {
			t.Fatalf("%q: %d tasks %d..%d %%%d", s, n, set.Min(), set.Max(), thr)
		}
		again, _, err := ParseArray(set.String())
		if err != nil || again.String() != set.String() {
			t.Fatalf("%q: %q does not round-trip: %q, %v", s, set.String(), again.String(), err)
		}
	})
}

func FuzzParseDependency(f *testing.F) {
	for _, s := range []string{"afterok:12:13,singleton", "after:1", "afterany:1?afterok:2", "afternotok:99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := ParseDependency(s)
		if err != nil {
			return
		}
		if len(ds) > MaxDependencies {
			t.Fatalf("%q: %d dependencies", s, len(ds))
		}
		for _, d := range ds {
			if (d.Type == model.DepSingleton) != (d.JobID == 0) || d.Final != "" {
				t.Fatalf("%q: %+v", s, d)
			}
		}
		again, err := ParseDependency(FormatDependency(ds))
		if err != nil || FormatDependency(again) != FormatDependency(ds) {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}

func FuzzParseBegin(f *testing.F) {
	for _, s := range []string{"now+1hour", "+30m", "16:00", "2026-12-24T08:00", "2026-12-05T12:00:00Z", "midnight"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBegin(s, now, time.UTC)
		if err == nil && got.Sub(now) > MaxBeginAhead {
			t.Fatalf("%q: %v is too far ahead", s, got)
		}
	})
}
