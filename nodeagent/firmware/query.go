package firmware

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ibex-hpc/ibex/nodeagent/hca"
)

// Query is what `mstflint -d DEV q` (a device) or `mstflint -i FILE q` (an
// image file) reports. Fields mstflint prints as "N/A" are left empty.
type Query struct {
	ImageType string // "Image type": FS2 (ConnectX-3), FS3, FS4 (ConnectX-6) ...
	// FWVersion is "FW Version": for a device, the firmware burned on
	// flash; for an image file, the firmware in the file.
	FWVersion string
	// RunningVersion is the firmware the device executes now. mstflint
	// prints "FW Version(Running)" only when it differs from the flash; when
	// it does not (RunningReported false), the running version is FWVersion.
	RunningVersion  string
	RunningReported bool
	// PendingReset is true when flash and running firmware differ: a burn
	// has happened and a firmware reset or reboot will activate it.
	PendingReset   bool
	ReleaseDate    string   // "FW Release Date", as printed (dd.mm.yyyy)
	ProductVersion string   // "Product Version"
	RomInfo        []string // "Rom Info", one entry per expansion ROM
	PSID           string
	OrigPSID       string // "Orig PSID", printed when the PSID was changed
	DeviceID       int    // "Device ID" (PCI device id), 0 when not printed
	// BaseGUID/BaseMAC and their counts come from the FS3/FS4 table
	// ("Base GUID: 043f720300f04c46  8"). Older FS2 images print per-port
	// "GUIDs:" and "MACs:" lines instead; those land in GUIDs and MACs,
	// and BaseGUID/BaseMAC are then the first of each.
	BaseGUID      hca.GUID
	BaseGUIDCount int
	BaseMAC       net.HardwareAddr
	BaseMACCount  int
	GUIDs         []hca.GUID
	MACs          []net.HardwareAddr
	// SecurityAttributes is "Security Attributes", e.g. "secure-fw".
	SecurityAttributes string
	// Fields has every "Key: value" line as printed (continuation lines
	// joined with "\n"), so callers can read what is not modelled above.
	Fields map[string]string
	// Messages are mstflint's "-W-"/"-I-" lines and any other line that is
	// not "Key: value".
	Messages []string
}

// Running returns the firmware version the device runs now.
func (q Query) Running() string {
	if q.RunningVersion != "" {
		return q.RunningVersion
	}
	return q.FWVersion
}

// maxQueryOutput bounds what ParseQuery accepts; real output is under 2 KiB.
const maxQueryOutput = 1 << 20

// ParseQuery parses the text output of `mstflint q`. It fails when mstflint
// printed an error ("-E-" line), when "FW Version" is missing, when a
// modelled field is malformed or a key appears twice: a firmware decision
// must not rest on output we only half understood.
func ParseQuery(out string) (Query, error) {
	if len(out) > maxQueryOutput {
		return Query{}, fmt.Errorf("mstflint query: output is %d bytes, more than %d", len(out), maxQueryOutput)
	}
	q := Query{Fields: map[string]string{}}
	var order []string
	var errs []string
	last := ""
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !utf8.ValidString(line) || strings.IndexFunc(line, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) >= 0 {
			return Query{}, fmt.Errorf("mstflint query: line %d is not printable text", n+1)
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "-E-"):
			errs = append(errs, trimmed)
			continue
		case strings.HasPrefix(trimmed, "-W-"), strings.HasPrefix(trimmed, "-I-"):
			q.Messages = append(q.Messages, trimmed)
			continue
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				q.Messages = append(q.Messages, trimmed)
				continue
			}
			q.Fields[last] += "\n" + trimmed
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			q.Messages = append(q.Messages, trimmed)
			last = ""
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if _, dup := q.Fields[key]; dup {
			return Query{}, fmt.Errorf("mstflint query: %q appears twice", key)
		}
		q.Fields[key] = val
		order = append(order, key)
		last = key
	}
	if len(errs) > 0 {
		return Query{}, fmt.Errorf("mstflint query failed: %s", strings.Join(errs, "; "))
	}
	for _, key := range order {
		if err := q.set(key, q.Fields[key]); err != nil {
			return Query{}, fmt.Errorf("mstflint query: %q: %w", key, err)
		}
	}
	if q.FWVersion == "" {
		return Query{}, errors.New(`mstflint query: no "FW Version" line`)
	}
	if q.RunningVersion == "" {
		q.RunningVersion = q.FWVersion
	}
	q.PendingReset = !SameVersion(q.FWVersion, q.RunningVersion)
	return q, nil
}

// set interprets one modelled field.
func (q *Query) set(key, val string) error {
	if val == "N/A" {
		val = ""
	}
	var err error
	switch key {
	case "Image type":
		q.ImageType = val
	case "FW Version":
		q.FWVersion, err = val, checkVersion(val)
	case "FW Version(Running)":
		q.RunningVersion, q.RunningReported, err = val, true, checkVersion(val)
	case "FW Release Date":
		q.ReleaseDate = val
	case "Product Version":
		q.ProductVersion = val
	case "Rom Info":
		if val != "" {
			q.RomInfo = strings.Split(val, "\n")
		}
	case "PSID":
		if val != "" {
			q.PSID, err = val, checkPSID(val)
		}
	case "Orig PSID":
		if val != "" {
			q.OrigPSID, err = val, checkPSID(val)
		}
	case "Device ID":
		q.DeviceID, err = parseDeviceID(val)
	case "Base GUID":
		q.BaseGUID, q.BaseGUIDCount, err = parseBase(val, parseGUID)
	case "Base MAC":
		q.BaseMAC, q.BaseMACCount, err = parseBase(val, parseMAC)
	case "GUIDs":
		q.GUIDs, err = parseList(val, parseGUID)
		if err == nil && len(q.GUIDs) > 0 && q.BaseGUID == 0 {
			q.BaseGUID = q.GUIDs[0]
		}
	case "MACs":
		q.MACs, err = parseList(val, parseMAC)
		if err == nil && len(q.MACs) > 0 && q.BaseMAC == nil {
			q.BaseMAC = q.MACs[0]
		}
	case "Security Attributes":
		q.SecurityAttributes = val
	}
	return err
}
