package ibnet

import "strconv"

// Speed is a per-lane InfiniBand signalling rate as ibnetdiscover names it.
// The constants are ordered slowest first so that a link can be given the
// slower of the rates its two ends report.
type Speed uint8

// Known speeds; SpeedUnknown covers "???" (down ports in `-p` output) and
// anything this package does not recognise.
const (
	SpeedUnknown Speed = iota
	SDR
	DDR
	QDR
	FDR10
	FDR
	EDR
	HDR
	NDR
	XDR
)

var speedNames = [...]string{"", "SDR", "DDR", "QDR", "FDR10", "FDR", "EDR", "HDR", "NDR", "XDR"}

func (s Speed) String() string {
	if int(s) < len(speedNames) {
		return speedNames[s]
	}
	return ""
}

func parseSpeed(s string) Speed {
	for i, n := range speedNames {
		if i > 0 && n == s {
			return Speed(i)
		}
	}
	return SpeedUnknown
}

// Width is the number of lanes of a link (1x, 2x, 4x, 8x, 12x); 0 is unknown.
type Width uint8

func (w Width) String() string {
	if w == 0 {
		return ""
	}
	return strconv.Itoa(int(w)) + "x"
}

// Rate is what one end of a cable reports, e.g. 4x QDR.
type Rate struct {
	Width Width
	Speed Speed
}

// String gives the combined ibnetdiscover form, e.g. "4xQDR"; unknown parts
// print as "?" so a half-known rate stays readable ("4x?").
func (r Rate) String() string {
	if r == (Rate{}) {
		return "?"
	}
	w, s := r.Width.String(), r.Speed.String()
	if w == "" {
		w = "?"
	}
	if s == "" {
		s = "?"
	}
	return w + s
}

// Known reports whether both width and speed are known.
func (r Rate) Known() bool { return r.Width != 0 && r.Speed != SpeedUnknown }

// parseRate reads the combined form ("4xQDR", "1xSDR", "4xFDR10"). It never
// fails: a comment field we cannot read must not reject a dump, it just
// leaves the rate unknown.
func parseRate(tok string) Rate {
	i := 0
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	if i == 0 || i > 2 || i >= len(tok) || tok[i] != 'x' {
		return Rate{}
	}
	n, _ := strconv.Atoi(tok[:i])
	return Rate{Width: Width(n), Speed: parseSpeed(tok[i+1:])}
}

// parseWidth reads "4x" as printed in `ibnetdiscover -p` output.
func parseWidth(tok string) Width {
	r := parseRate(tok)
	return r.Width
}

// minRate combines the two ends' reports: a link runs at the slower of its
// ends, and an unknown half is filled from the other end.
func minRate(a, b Rate) Rate {
	r := a
	switch {
	case r.Width == 0:
		r.Width = b.Width
	case b.Width != 0 && b.Width < r.Width:
		r.Width = b.Width
	}
	switch {
	case r.Speed == SpeedUnknown:
		r.Speed = b.Speed
	case b.Speed != SpeedUnknown && b.Speed < r.Speed:
		r.Speed = b.Speed
	}
	return r
}
