package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTimeLimit accepts Go durations ("90m", "1h30m") and Slurm's forms:
// "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS". The result
// must be positive.
func ParseTimeLimit(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty time limit")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("time limit %q must be positive", s)
		}
		return d, nil
	}
	d, err := parseSlurm(s)
	if err != nil {
		return 0, fmt.Errorf("time limit %q: %v (use e.g. 30m, 2h, 1:30:00 or 2-00:00:00)", s, err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("time limit %q must be positive", s)
	}
	return d, nil
}

func parseSlurm(s string) (time.Duration, error) {
	days := 0
	if dstr, rest, ok := strings.Cut(s, "-"); ok {
		n, err := num(dstr)
		if err != nil {
			return 0, err
		}
		days, s = n, rest
		// After "D-" the fields are hours, minutes, seconds, each bounded
		// as on a clock: "1-25" is a typo, not 2 days and an hour.
		v, err := fields(s, 24, 60, 60)
		if err != nil {
			return 0, err
		}
		return time.Duration(days)*24*time.Hour + time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, nil
	}
	// Without days the first field is unbounded in its unit (Slurm's "90"
	// is 90 minutes, "36:00:00" 36 hours); the ones after it are minutes or
	// seconds and must be below 60, so "25:99:99" is an error.
	switch strings.Count(s, ":") {
	case 0:
		v, err := fields(s, 0)
		return time.Duration(v[0]) * time.Minute, err
	case 1:
		v, err := fields(s, 0, 60)
		return time.Duration(v[0])*time.Minute + time.Duration(v[1])*time.Second, err
	case 2:
		v, err := fields(s, 0, 60, 60)
		return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, err
	}
	return 0, fmt.Errorf("too many fields")
}

// fields splits s at colons into at most len(limits) numbers; a field with
// a limit above 0 must be below it. Missing trailing fields are 0.
func fields(s string, limits ...int) ([3]int, error) {
	var v [3]int
	parts := strings.Split(s, ":")
	if len(parts) > len(limits) {
		return v, fmt.Errorf("too many fields")
	}
	names := [...]string{"first", "second", "third"}
	for i, p := range parts {
		n, err := num(p)
		if err != nil {
			return v, err
		}
		if limits[i] > 0 && n >= limits[i] {
			return v, fmt.Errorf("the %s field is %d, must be below %d", names[i], n, limits[i])
		}
		v[i] = n
	}
	return v, nil
}

func num(s string) (int, error) {
	if s == "" || len(s) > 6 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", s)
		}
	}
	return strconv.Atoi(s)
}
