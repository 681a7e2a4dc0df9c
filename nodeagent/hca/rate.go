package hca

import (
	"fmt"
	"strconv"
	"strings"
)

// Rate is a port's active data rate as printed in ports/N/rate, for example
// "40 Gb/sec (4X QDR)", "2.5 Gb/sec (1X SDR)" or, from iWARP drivers that
// have no IB speed, "10 Gb/sec (4X)". The zero Rate means "unknown".
type Rate struct {
	// Mbps is the total rate in Mb/s, kept as an integer so that
	// comparisons are exact (2.5 Gb/sec is 2500).
	Mbps uint64
	// Width is the number of lanes (the "4" of "4X").
	Width int
	// Speed is the per-lane speed name (SDR, DDR, QDR, FDR10, FDR, EDR,
	// HDR, NDR, XDR), or "" when the driver prints none.
	Speed string
}

// Known reports whether the rate was read from sysfs.
func (r Rate) Known() bool { return r != Rate{} }

// Gbps returns the rate in Gb/s.
func (r Rate) Gbps() float64 { return float64(r.Mbps) / 1000 }

// String formats the rate the way sysfs prints it, or "unknown".
func (r Rate) String() string {
	if !r.Known() {
		return "unknown"
	}
	num := strconv.FormatUint(r.Mbps/1000, 10)
	if frac := r.Mbps % 1000; frac != 0 {
		num += strings.TrimRight(fmt.Sprintf(".%03d", frac), "0")
	}
	speed := ""
	if r.Speed != "" {
		speed = " " + r.Speed
	}
	return fmt.Sprintf("%s Gb/sec (%dX%s)", num, r.Width, speed)
}

// ParseRate parses "<gbps> Gb/sec (<width>X[ <speed>])". Gb/s may have up
// to three decimals (the kernel prints at most one, ".5"); the speed is
// letters and digits.
func ParseRate(s string) (Rate, error) {
	orig := s
	s = strings.TrimSpace(s)
	num, rest, ok := strings.Cut(s, " Gb/sec (")
	if !ok || !strings.HasSuffix(rest, ")") {
		return Rate{}, fmt.Errorf("rate %q: want \"<n> Gb/sec (<w>X <speed>)\"", orig)
	}
	mbps, err := parseMbps(num)
	if err != nil {
		return Rate{}, fmt.Errorf("rate %q: %w", orig, err)
	}
	inner := strings.TrimSuffix(rest, ")")
	width, speed, _ := strings.Cut(inner, " ")
	w, ok := strings.CutSuffix(width, "X")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: width %q does not end in X", orig, width)
	}
	n, err := parseDecimal(w, 3)
	if err != nil {
		return Rate{}, fmt.Errorf("rate %q: width: %w", orig, err)
	}
	if strings.Contains(inner, " ") && speed == "" {
		return Rate{}, fmt.Errorf("rate %q: empty speed", orig)
	}
	for i := 0; i < len(speed); i++ {
		c := speed[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return Rate{}, fmt.Errorf("rate %q: speed %q is not alphanumeric", orig, speed)
		}
	}
	return Rate{Mbps: mbps, Width: int(n), Speed: speed}, nil
}

// parseMbps turns "40", "2.5" or "13.64" (Gb/s) into Mb/s.
func parseMbps(s string) (uint64, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	g, err := parseDecimal(whole, 9)
	if err != nil {
		return 0, fmt.Errorf("number of Gb/sec %q: %w", s, err)
	}
	var m uint64
	if hasFrac {
		if frac == "" || len(frac) > 3 {
			return 0, fmt.Errorf("number of Gb/sec %q: want 1-3 decimals", s)
		}
		f, err := parseDecimal(frac, 3)
		if err != nil {
			return 0, fmt.Errorf("number of Gb/sec %q: %w", s, err)
		}
		for i := len(frac); i < 3; i++ {
			f *= 10
		}
		m = f
	}
	return g*1000 + m, nil
}
