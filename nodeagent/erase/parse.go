package erase

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseSize parses `blockdev --getsize64 DEV`: one decimal byte count.
func ParseSize(out string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("erase: blockdev --getsize64 printed %q, want a positive byte count", summarize(out))
	}
	return n, nil
}

// DiscardReport is what `blkdiscard --verbose` says it did.
type DiscardReport struct {
	Offset int64 // where the range started
	Bytes  int64 // bytes discarded or zero-filled, all steps summed
	Zeroed bool  // "Zero-filled" (--zeroout) rather than "Discarded"
}

// ParseBlkdiscard reads blkdiscard's verbose report lines for path:
//
//	/dev/loop0: Zero-filled 67108864 bytes from the offset 0
//	/dev/sdb: Discarded 1000204886016 bytes from the offset 0
//
// With --step, or a run longer than a second, there is one line per
// reporting interval; they must be contiguous. Other lines (warnings about
// existing signatures) are ignored. No report line is an error: without
// it nothing says the range was covered.
func ParseBlkdiscard(out, path string) (DiscardReport, error) {
	var r DiscardReport
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), path+": ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 || f[0] != "Zero-filled" && f[0] != "Discarded" {
			continue
		}
		zeroed := f[0] == "Zero-filled"
		n, err1 := strconv.ParseInt(fieldAt(f, 1), 10, 64)
		off, err2 := strconv.ParseInt(fieldAt(f, 6), 10, 64)
		if len(f) != 7 || strings.Join(f[2:6], " ") != "bytes from the offset" || err1 != nil || err2 != nil || n < 0 || off < 0 {
			return DiscardReport{}, fmt.Errorf("erase: unrecognised blkdiscard line %q", l)
		}
		if lines == 0 {
			r = DiscardReport{Offset: off, Zeroed: zeroed}
		} else if off != r.Offset+r.Bytes || zeroed != r.Zeroed {
			return DiscardReport{}, fmt.Errorf("erase: blkdiscard report is not contiguous at %q", l)
		}
		if r.Bytes > r.Bytes+n {
			return DiscardReport{}, fmt.Errorf("erase: blkdiscard byte count overflows at %q", l)
		}
		r.Bytes += n
		lines++
	}
	if lines == 0 {
		return DiscardReport{}, fmt.Errorf("erase: blkdiscard printed no report for %s: %s", path, summarize(out))
	}
	return r, nil
}

func fieldAt(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}

// blkdiscardFailure turns a failed blkdiscard run into an error:
// ErrNotSupported when the kernel refused the ioctl with EOPNOTSUPP
// (e.g. "blkdiscard: /dev/loop0: BLKSECDISCARD ioctl failed: Operation not
// supported"), so that Block falls back; anything else (busy device,
// misalignment, I/O error) is a hard failure.
func blkdiscardFailure(out string, err error) error {
	if strings.Contains(out, "ioctl failed") && strings.Contains(out, "Operation not supported") {
		return fmt.Errorf("%w: %s", ErrNotSupported, summarize(out))
	}
	return fmt.Errorf("erase: blkdiscard: %w: %s", err, summarize(out))
}

// IDCtrl is the part of `nvme id-ctrl DEV --output-format=json` that
// method selection needs.
type IDCtrl struct {
	Model    string `json:"mn"`
	Firmware string `json:"fr"`
	// OACS bit 1: the controller supports Format NVM.
	OACS uint32 `json:"oacs"`
	// FNA bit 0: format applies to all namespaces; bit 1: secure erase
	// applies to all namespaces; bit 2: cryptographic erase supported.
	FNA     uint32 `json:"fna"`
	SANICAP uint32 `json:"sanicap"`
}

// SupportsFormat reports OACS bit 1.
func (c IDCtrl) SupportsFormat() bool { return c.OACS&0x2 != 0 }

// EraseAffectsAllNamespaces reports FNA bit 1: a secure-erase format of
// one namespace erases every namespace on the controller.
func (c IDCtrl) EraseAffectsAllNamespaces() bool { return c.FNA&0x2 != 0 }

// CryptoErase reports FNA bit 2.
func (c IDCtrl) CryptoErase() bool { return c.FNA&0x4 != 0 }

// ParseIDCtrl decodes nvme-cli's JSON identify-controller output.
func ParseIDCtrl(out []byte) (IDCtrl, error) {
	var c IDCtrl
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(out, &probe); err != nil {
		return c, fmt.Errorf("erase: nvme id-ctrl: %w", err)
	}
	if _, ok := probe["oacs"]; !ok {
		return c, errors.New("erase: nvme id-ctrl: no oacs field")
	}
	if err := json.Unmarshal(out, &c); err != nil {
		return c, fmt.Errorf("erase: nvme id-ctrl: %w", err)
	}
	c.Model, c.Firmware = strings.TrimSpace(c.Model), strings.TrimSpace(c.Firmware)
	return c, nil
}

// ParseNVMeFormat judges an `nvme format` run. Exit status decides;
// "NVMe status:" lines (the controller's completion status) are failures
// even with a zero exit. A status saying the field or opcode is invalid
// means the drive does not support the requested secure erase:
// ErrNotSupported. nvme-cli prints "Success formatting namespace:N" on
// success; newer versions print it only with --verbose, so its absence
// is not an error.
func ParseNVMeFormat(out string, err error) error {
	status := ""
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "NVMe status:") || strings.HasPrefix(l, "NVMe Status:") {
			status = l
		}
	}
	if err == nil && status == "" {
		return nil
	}
	lower := strings.ToLower(status + " " + out)
	for _, s := range []string{"invalid field in command", "invalid_field", "invalid command opcode", "invalid_opcode"} {
		if strings.Contains(lower, s) {
			return fmt.Errorf("%w: nvme format: %s", ErrNotSupported, summarize(out))
		}
	}
	if err == nil {
		err = errors.New("exit 0")
	}
	return fmt.Errorf("erase: nvme format: %w: %s", err, summarize(out))
}

// summarize keeps error messages short: the last non-empty line, at most
// 512 bytes.
func summarize(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	s := strings.TrimSpace(lines[len(lines)-1])
	if s == "" {
		return "(no output)"
	}
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}
