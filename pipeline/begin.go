package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxBeginSpec bounds the --begin text, and MaxBeginAhead how far ahead a
// job may be deferred.
const (
	MaxBeginSpec  = 64
	MaxBeginAhead = 366 * 24 * time.Hour
)

// ParseBegin reads sbatch's --begin forms, relative to now and in loc:
//
//	now, now+N[UNIT], +N[UNIT]   UNIT: seconds (the default), minutes,
//	                             hours, days, weeks (s, m, h, d, w, and
//	                             sbatch's singular and plural words);
//	                             +1h30m (a Go duration) works too
//	HH:MM[:SS]                   that time today, or tomorrow if it passed
//	YYYY-MM-DD[THH:MM[:SS]]      a date and time in loc
//	RFC 3339                     2026-12-05T16:00:00Z, with its zone
//	midnight, noon, teatime      the next 00:00, 12:00, 16:00
//
// The result is at most MaxBeginAhead after now; a time in the past is
// allowed (the job is eligible at once), as in sbatch.
func ParseBegin(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if len(s) > MaxBeginSpec {
		return time.Time{}, fmt.Errorf("--begin is %d bytes, at most %d", len(s), MaxBeginSpec)
	}
	t, err := parseBegin(strings.TrimSpace(s), now, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("--begin %q: %v (e.g. now+1hour, +30m, 16:00, 2026-12-24T08:00)", clip(s), err)
	}
	if t.Sub(now) > MaxBeginAhead {
		return time.Time{}, fmt.Errorf("--begin %q is more than %d days ahead", clip(s), int(MaxBeginAhead.Hours()/24))
	}
	return t, nil
}

func parseBegin(s string, now time.Time, loc *time.Location) (time.Time, error) {
	now = now.In(loc)
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("empty")
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now+"):
		d, err := offset(s[len("now+"):])
		return now.Add(d), err
	case strings.HasPrefix(s, "+"):
		d, err := offset(s[1:])
		return now.Add(d), err
	case s == "midnight":
		return nextClock(now, 0, 0, 0), nil
	case s == "noon":
		return nextClock(now, 12, 0, 0), nil
	case s == "teatime":
		return nextClock(now, 16, 0, 0), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return nextClock(now, t.Hour(), t.Minute(), t.Second()), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time")
}

// nextClock is the next hh:mm:ss at or after now (today or tomorrow).
func nextClock(now time.Time, h, m, sec int) time.Time {
	t := time.Date(now.Year(), now.Month(), now.Day(), h, m, sec, 0, now.Location())
	if t.Before(now) {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

var units = map[string]time.Duration{
	"": time.Second, "s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// offset reads N[UNIT] or a Go duration; it is never negative.
func offset(s string) (time.Duration, error) {
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits > 0 && digits <= 9 {
		if u, ok := units[s[digits:]]; ok {
			n, _ := strconv.Atoi(s[:digits])
			if time.Duration(n) > MaxBeginAhead/u {
				return 0, fmt.Errorf("too far ahead")
			}
			return time.Duration(n) * u, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is not an offset", clip(s))
	}
	return d, nil
}
