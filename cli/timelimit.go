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
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, fmt.Errorf("too many fields")
		}
		var v [3]int
		for i, p := range parts {
			if v[i], err = num(p); err != nil {
				return 0, err
			}
		}
		return time.Duration(days)*24*time.Hour + time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, nil
	}
	parts := strings.Split(s, ":")
	var v []int
	for _, p := range parts {
		n, err := num(p)
		if err != nil {
			return 0, err
		}
		v = append(v, n)
	}
	switch len(v) {
	case 1:
		return time.Duration(v[0]) * time.Minute, nil
	case 2:
		return time.Duration(v[0])*time.Minute + time.Duration(v[1])*time.Second, nil
	case 3:
		return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, nil
	}
	return 0, fmt.Errorf("too many fields")
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
