package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Challenges: what the leader, not the agent, chooses to check when it
// dispatches a hygiene task or the hand-out check, and how the state
// machine checks the agent's answer. The challenge is recorded in the
// replicated task before the agent sees it, so an answer made up before
// it existed (a replayed or forged journal entry) names the wrong offsets,
// blocks or nonce and is refused.
//
// What a challenge can and cannot prove: it proves the answer was made
// after the challenge and names what the leader chose. The erase samples
// are hashed with the nonce over the bytes read, so a stored answer is
// useless; the image blocks are compared with the hashes recorded when
// the image entered the catalog. An agent that is itself compromised can
// still compute the right answer without reading the disk (zeros and
// catalog hashes are no secret): that is root on the node, which no
// remote check can rule out.

// Bounds of challenges and answers. An answer is agent input and goes
// into the replicated state's ledger: it is parsed within these limits
// (ParseAnswer) before anything looks at it.
const (
	ChallengeNonceBytes = 16
	SectorSize          = 512
	MaxEraseDraws       = 256
	MinSampleSize       = SectorSize
	MaxSampleSize       = 64 << 10
	MaxChallengeBlocks  = 64
	MaxAnswerBytes      = 256 << 10
	maxAnswerList       = 256
	maxAnswerString     = 512
)

// Challenge is chosen by the leader for one task.
type Challenge struct {
	// Nonce is 32 lowercase hex digits, fresh per task.
	Nonce string `json:"nonce"`
	// Erase: random draws that pick the sample offsets (see
	// EraseOffsets) and the sample size.
	Draws      []uint64 `json:"draws,omitempty"`
	SampleSize int      `json:"sample_size,omitempty"`
	// Pattern is what an overwrite must leave, in hex ("" means zeros):
	// the leader's, so an agent cannot call whatever the disk holds its
	// pattern.
	Pattern string `json:"pattern,omitempty"`
	// Image blocks to read back and hash, by index into the catalog
	// image's block list, and the image ("name:version") they are of.
	Image  string `json:"image,omitempty"`
	Blocks []int  `json:"blocks,omitempty"`
	// Pins are the firmware policy at dispatch: PSID → version. Every
	// reading of every HCA must match its PSID's pin.
	Pins map[string]string `json:"pins,omitempty"`
	// PKeys asks for the node's own P_Key tables (the hand-out check, on
	// a cluster with partitions).
	PKeys bool `json:"pkeys,omitempty"`

	// --- firmware profiles (fwprofile.go, fwcheck.go) ---
	// Config is a firmware profile's mstconfig settings per PSID: every
	// HCA of that PSID must hold each, current and next boot.
	Config map[string]map[string]string `json:"config,omitempty"`
	// ConfigKeys are settings that must be at the firmware's default,
	// current and next boot (a cleaning restoring the baseline).
	ConfigKeys []string `json:"config_keys,omitempty"`
	// Before asks for every reading as found, before the task touched
	// anything (FirmwareAnswer.Before): the state machine compares it with
	// what ibex last left on the node (model.FirmwareSeen).
	Before bool `json:"before,omitempty"`
}

// Validate checks a challenge's bounds (the FSM refuses a task whose
// challenge the agent could not answer within ParseAnswer's limits).
func (c Challenge) Validate() error {
	if len(c.Nonce) != 2*ChallengeNonceBytes || !isLowerHex(c.Nonce) {
		return fmt.Errorf("challenge nonce %q: want %d lowercase hex digits", c.Nonce, 2*ChallengeNonceBytes)
	}
	if len(c.Draws) > MaxEraseDraws {
		return fmt.Errorf("challenge: %d erase samples, at most %d", len(c.Draws), MaxEraseDraws)
	}
	if len(c.Draws) > 0 && (c.SampleSize < MinSampleSize || c.SampleSize > MaxSampleSize || c.SampleSize%SectorSize != 0) {
		return fmt.Errorf("challenge: sample size %d, want a multiple of %d in %d..%d", c.SampleSize, SectorSize, MinSampleSize, MaxSampleSize)
	}
	if p, err := hex.DecodeString(c.Pattern); err != nil || len(p) > 64 || c.Pattern != strings.ToLower(c.Pattern) {
		return fmt.Errorf("challenge: pattern %q is not at most 64 bytes of lowercase hex", c.Pattern)
	}
	if len(c.Blocks) > MaxChallengeBlocks {
		return fmt.Errorf("challenge: %d image blocks, at most %d", len(c.Blocks), MaxChallengeBlocks)
	}
	for _, b := range c.Blocks {
		if b < 0 {
			return fmt.Errorf("challenge: block index %d", b)
		}
	}
	if len(c.Blocks) > 0 && c.Image == "" {
		return errors.New("challenge: image blocks without the image")
	}
	if len(c.Pins) > maxAnswerList {
		return fmt.Errorf("challenge: %d firmware pins", len(c.Pins))
	}
	return c.validateConfig()
}

// Clone returns a deep copy.
func (c *Challenge) Clone() *Challenge {
	if c == nil {
		return nil
	}
	out := *c
	out.Draws = slices.Clone(c.Draws)
	out.Blocks = slices.Clone(c.Blocks)
	out.ConfigKeys = slices.Clone(c.ConfigKeys)
	if c.Config != nil {
		out.Config = make(map[string]map[string]string, len(c.Config))
		for k, v := range c.Config {
			out.Config[k] = maps.Clone(v)
		}
	}
	if c.Pins != nil {
		out.Pins = make(map[string]string, len(c.Pins))
		for k, v := range c.Pins {
			out.Pins[k] = v
		}
	}
	return &out
}

// EraseOffsets are the sample offsets of an erase challenge on a disk of
// size bytes: the first block, the last block (ending at the last byte),
// then one sector-aligned offset per draw. The agent reads exactly these;
// the FSM recomputes them from the size the agent reports.
func EraseOffsets(size int64, sampleSize int, draws []uint64) (offs []int64, ss int) {
	if size <= 0 || sampleSize <= 0 {
		return nil, 0
	}
	ss = int(min(int64(sampleSize), size))
	last := size - int64(ss)
	offs = []int64{0}
	if last > 0 {
		offs = append(offs, last)
	}
	slots := uint64(last/SectorSize) + 1
	for _, d := range draws {
		offs = append(offs, int64(d%slots)*SectorSize)
	}
	return offs, ss
}

// ErasePattern is the challenge's pattern, zeros when it names none.
func (c Challenge) ErasePattern() string {
	if c.Pattern == "" {
		return "00"
	}
	return c.Pattern
}

// FileDisk is the erase kind of a simulated node's disk file.
const FileDisk = "file"

// UnpredictableEraseMethods leave content the server cannot predict (a
// drive's own secure erase); their answers are checked for the offsets
// only. The names are erase.Method values.
var UnpredictableEraseMethods = []string{"nvme-format-ses1", "blkdiscard-secure"}

// SampleDigest binds a sample read at off to the challenge's nonce:
// SHA-256 of the nonce (as text), the offset (8 bytes, big endian) and
// the bytes read.
func SampleDigest(nonce string, off int64, data []byte) string {
	h := sha256.New()
	h.Write([]byte(nonce))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(off))
	h.Write(b[:])
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// patternAt is n bytes of pattern repeated from device offset 0, as they
// lie at off.
//
// The first period is written byte by byte and the rest doubled by copy:
// the FSM checks every erase answer's samples with it (bench/agentpath's
// profile had the byte-wise loop at ~5% of ibexd's CPU).
func patternAt(pattern []byte, off int64, n int) []byte {
	out := make([]byte, n)
	p := int64(len(pattern))
	first := min(n, len(pattern))
	for i := 0; i < first; i++ {
		out[i] = pattern[(off+int64(i))%p]
	}
	for k := first; k < n; k *= 2 {
		copy(out[k:], out[:k])
	}
	return out
}

// Answer is an agent's reply to a challenge, as JSON in the task result
// (TaskResult.answer_json). Sections the challenge did not ask for are
// ignored.
type Answer struct {
	Nonce    string          `json:"nonce"`
	Erase    *EraseAnswer    `json:"erase,omitempty"`
	Image    *ImageAnswer    `json:"image,omitempty"`
	Firmware *FirmwareAnswer `json:"firmware,omitempty"`
	Procs    *ProcAnswer     `json:"procs,omitempty"`
	PKeys    *PKeyAnswer     `json:"pkeys,omitempty"`
	// Reruns is the agent's account of earlier runs of this task that
	// died with the agent process; the ledger records them as an
	// interrupted attempt (see Reruns).
	Reruns *Reruns `json:"reruns,omitempty"`
}

// EraseAnswer is the read-back of the challenged offsets after an erase.
type EraseAnswer struct {
	Method string `json:"method"`
	// Kind is the disk's kind (erase.Kind). A "file" stands in for a disk
	// on simulated nodes; imaging truncates it to the image, so its size
	// is not pinned (FileDisk).
	Kind string `json:"kind,omitempty"`
	// Pattern is the hex of what the method leaves ("00": zeros), or ""
	// for methods whose result the server cannot predict (a drive's
	// own secure erase).
	Pattern     string         `json:"pattern,omitempty"`
	DiskSize    int64          `json:"disk_size"`
	BytesErased int64          `json:"bytes_erased"`
	SampleSize  int            `json:"sample_size"`
	Samples     []SampleAnswer `json:"samples"`
}

// SampleAnswer is one sample: its offset and SampleDigest.
type SampleAnswer struct {
	Offset int64  `json:"offset"`
	SHA256 string `json:"sha256"`
}

// ImageAnswer is the SHA-256 of each challenged block of the disk.
type ImageAnswer struct {
	Image     string        `json:"image"`
	BlockSize int64         `json:"block_size"`
	Blocks    []BlockAnswer `json:"blocks"`
}

// BlockAnswer is one block's plain SHA-256.
type BlockAnswer struct {
	Index  int    `json:"index"`
	SHA256 string `json:"sha256"`
}

// FirmwareAnswer is every reading of every HCA's firmware.
type FirmwareAnswer struct {
	Devices []FirmwareDevice `json:"devices"`
	// Before are the readings as found, before the task touched anything
	// (when the challenge asks: Challenge.Before).
	Before []FirmwareDevice `json:"before,omitempty"`
}

// FirmwareDevice is one HCA with its readings.
type FirmwareDevice struct {
	Device   string            `json:"device"`
	PSID     string            `json:"psid"`
	Readings []FirmwareReading `json:"readings"`
	// Config are the mstconfig settings the challenge names, as read.
	Config []ConfigReading `json:"config,omitempty"`
}

// Firmware reading sources: mstflint's burned (flash) and running
// versions, and the driver's fw_ver in sysfs.
const (
	ReadingFlash   = "mstflint-flash"
	ReadingRunning = "mstflint-running"
	ReadingSysfs   = "sysfs-fw_ver"
)

// FirmwareReading is one source's version.
type FirmwareReading struct {
	Source  string `json:"source"`
	Version string `json:"version"`
	Error   string `json:"error,omitempty"`
}

// ProcAnswer is what the node still runs of earlier jobs.
type ProcAnswer struct {
	Checked  []string `json:"checked"`
	Leftover []string `json:"leftover,omitempty"`
}

// PKeyAnswer is the node's own view of its ports' P_Key tables.
type PKeyAnswer struct {
	Ports []PortKeys `json:"ports"`
	Error string     `json:"error,omitempty"`
}

// PortKeys is one active InfiniBand port's occupied P_Key slots, with the
// membership bit.
type PortKeys struct {
	Port string   `json:"port"`
	Keys []uint16 `json:"keys"`
}

// ParseAnswer parses an agent's answer within the bounds above.
func ParseAnswer(b []byte) (Answer, error) {
	var a Answer
	if len(b) == 0 {
		return a, errors.New("no answer to the challenge")
	}
	if len(b) > MaxAnswerBytes {
		return a, fmt.Errorf("answer is %d bytes, at most %d", len(b), MaxAnswerBytes)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("answer: %w", err)
	}
	return a, a.checkBounds()
}

func (a Answer) checkBounds() error {
	str := func(what, s string) error {
		if len(s) > maxAnswerString {
			return fmt.Errorf("answer: %s is %d bytes, at most %d", what, len(s), maxAnswerString)
		}
		return nil
	}
	list := func(what string, n int) error {
		if n > maxAnswerList {
			return fmt.Errorf("answer: %d %s, at most %d", n, what, maxAnswerList)
		}
		return nil
	}
	var errs []error
	errs = append(errs, str("nonce", a.Nonce))
	if e := a.Erase; e != nil {
		errs = append(errs, str("method", e.Method), str("kind", e.Kind), str("pattern", e.Pattern), list("samples", len(e.Samples)-2))
	}
	if i := a.Image; i != nil {
		errs = append(errs, str("image", i.Image), list("blocks", len(i.Blocks)))
	}
	if f := a.Firmware; f != nil {
		errs = append(errs, list("devices", len(f.Devices)), list("devices before", len(f.Before)))
		for _, d := range append(slices.Clone(f.Devices), f.Before...) {
			errs = append(errs, str("device", d.Device), str("psid", d.PSID), list("readings", len(d.Readings)), list("settings", len(d.Config)))
			for _, r := range d.Readings {
				errs = append(errs, str("source", r.Source), str("version", r.Version), str("reading error", r.Error))
			}
			for _, r := range d.Config {
				errs = append(errs, str("setting", r.Key), str("default", r.Default), str("current", r.Current), str("next", r.Next), str("setting error", r.Error))
			}
		}
	}
	if p := a.Procs; p != nil {
		errs = append(errs, list("checks", len(p.Checked)), list("leftovers", len(p.Leftover)))
		for _, s := range append(slices.Clone(p.Checked), p.Leftover...) {
			errs = append(errs, str("process entry", s))
		}
	}
	if r := a.Reruns; r != nil && (r.Interrupted < 1 || r.Interrupted > maxReruns) {
		errs = append(errs, fmt.Errorf("answer: %d interrupted runs, want 1 to %d", r.Interrupted, maxReruns))
	}
	if k := a.PKeys; k != nil {
		errs = append(errs, list("ports", len(k.Ports)), str("pkey error", k.Error))
		for _, p := range k.Ports {
			errs = append(errs, str("port", p.Port), list("keys", len(p.Keys)))
		}
	}
	return errors.Join(errs...)
}

// NewNonce renders nonce bytes as a challenge nonce.
func NewNonce(b [ChallengeNonceBytes]byte) string { return hex.EncodeToString(b[:]) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckErase checks an erase answer against its challenge. diskSize is
// the node's disk size as its first verified erase reported it (0: not
// known yet). It returns the verdict for the ledger.
func CheckErase(c Challenge, a Answer, diskSize int64) (string, error) {
	e := a.Erase
	switch {
	case a.Nonce != c.Nonce:
		return "", fmt.Errorf("answer is for nonce %q, the challenge was %q: not an answer to this task", a.Nonce, c.Nonce)
	case e == nil:
		return "", errors.New("answer has no erase read-back")
	case e.DiskSize <= 0:
		return "", fmt.Errorf("answer reports a disk of %d bytes", e.DiskSize)
	case diskSize > 0 && e.DiskSize != diskSize && e.Kind != FileDisk:
		return "", fmt.Errorf("answer reports a disk of %d bytes; this node's disk had %d: a different disk?", e.DiskSize, diskSize)
	case e.BytesErased < e.DiskSize:
		return "", fmt.Errorf("only %d of the disk's %d bytes were erased", e.BytesErased, e.DiskSize)
	}
	offs, ss := EraseOffsets(e.DiskSize, c.SampleSize, c.Draws)
	if e.SampleSize != ss {
		return "", fmt.Errorf("answer read %d-byte samples, the challenge asked for %d", e.SampleSize, ss)
	}
	if len(e.Samples) != len(offs) {
		return "", fmt.Errorf("answer has %d samples, the challenge asked for %d", len(e.Samples), len(offs))
	}
	for i, s := range e.Samples {
		if s.Offset != offs[i] {
			return "", fmt.Errorf("sample %d was read at offset %d, the challenge asked for %d", i, s.Offset, offs[i])
		}
	}
	want := c.ErasePattern()
	content := "content not predictable for method " + e.Method + ": offsets checked only"
	switch {
	case e.Pattern == "" && !slices.Contains(UnpredictableEraseMethods, e.Method):
		return "", fmt.Errorf("answer's method %q leaves a known pattern, but the answer names none", e.Method)
	case e.Pattern != "" && e.Pattern != want:
		return "", fmt.Errorf("answer says the disk holds pattern %q, the leader asked for %q", e.Pattern, want)
	}
	if e.Pattern != "" {
		pattern, err := hex.DecodeString(e.Pattern)
		if err != nil || len(pattern) == 0 || len(pattern) > 64 {
			return "", fmt.Errorf("answer's pattern %q is not 1-64 bytes of hex", e.Pattern)
		}
		bad := 0
		first := int64(-1)
		for _, s := range e.Samples {
			if SampleDigest(c.Nonce, s.Offset, patternAt(pattern, s.Offset, ss)) != s.SHA256 {
				if bad == 0 {
					first = s.Offset
				}
				bad++
			}
		}
		if bad > 0 {
			return "", fmt.Errorf("%d of %d samples at the leader's offsets do not hold pattern %s (first at offset %d)", bad, len(e.Samples), e.Pattern, first)
		}
		content = "all hold pattern " + e.Pattern
	}
	read := int64(len(e.Samples)) * int64(ss)
	return fmt.Sprintf("server check of the leader's challenge: %d samples of %d bytes at the leader's offsets, %s; disk %d bytes, %d erased (%s); samples cover %d bytes (%.4f%% of the disk)",
		len(e.Samples), ss, content, e.DiskSize, e.BytesErased, e.Method, read, 100*float64(read)/float64(e.DiskSize)), nil
}

// CheckImageBlocks checks the challenged blocks' hashes against the
// catalog's. An image catalogued before block lists existed cannot be
// checked; the verdict says so.
func CheckImageBlocks(c Challenge, a Answer, img Image) (string, error) {
	if a.Nonce != c.Nonce {
		return "", fmt.Errorf("answer is for nonce %q, the challenge was %q", a.Nonce, c.Nonce)
	}
	if !img.HasBlocks() {
		return fmt.Sprintf("image %s has no block hash list (catalogued before ibex recorded one): its blocks are not checked; add a new version with `ibex images add`", img.Ref()), nil
	}
	i := a.Image
	switch {
	case i == nil:
		return "", errors.New("answer has no image blocks")
	case i.Image != img.Ref() || i.BlockSize != img.BlockSize:
		return "", fmt.Errorf("answer is for image %s in %d-byte blocks, the challenge is %s in %d-byte blocks", i.Image, i.BlockSize, img.Ref(), img.BlockSize)
	case len(i.Blocks) != len(c.Blocks):
		return "", fmt.Errorf("answer has %d blocks, the challenge asked for %d", len(i.Blocks), len(c.Blocks))
	}
	var bad []int
	for k, b := range i.Blocks {
		want := c.Blocks[k]
		if b.Index != want {
			return "", fmt.Errorf("block %d of the answer is block %d, the challenge asked for %d", k, b.Index, want)
		}
		if want >= len(img.Blocks) {
			return "", fmt.Errorf("challenge block %d is beyond the image's %d blocks", want, len(img.Blocks))
		}
		if b.SHA256 != img.Blocks[want] {
			bad = append(bad, want)
		}
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("image %s: blocks %v on the disk differ from the catalog's hashes", img.Ref(), bad)
	}
	return fmt.Sprintf("image %s: %d blocks of %d bytes chosen by the leader (%v) match the catalog's hashes", img.Ref(), len(c.Blocks), img.BlockSize, c.Blocks), nil
}

// CheckFirmware checks that every reading of every HCA agrees with its
// PSID's pin: mstflint's flash and running versions and sysfs fw_ver,
// each of which must be present.
func CheckFirmware(c Challenge, a Answer) (string, error) {
	if a.Nonce != c.Nonce {
		return "", fmt.Errorf("answer is for nonce %q, the challenge was %q", a.Nonce, c.Nonce)
	}
	if len(c.Pins) == 0 {
		return "no firmware policy: nothing to check", nil
	}
	f := a.Firmware
	if f == nil || len(f.Devices) == 0 {
		return "", errors.New("answer has no HCA firmware readings")
	}
	var errs []string
	var ok []string
	for _, d := range f.Devices {
		pin, pinned := c.Pins[d.PSID]
		if !pinned {
			errs = append(errs, fmt.Sprintf("%s: PSID %q has no pin", d.Device, d.PSID))
			continue
		}
		have := map[string]bool{}
		for _, r := range d.Readings {
			switch {
			case r.Error != "":
				errs = append(errs, fmt.Sprintf("%s: %s unreadable: %s", d.Device, r.Source, r.Error))
			case r.Version != pin:
				errs = append(errs, fmt.Sprintf("%s: %s says %q, the pin is %q", d.Device, r.Source, r.Version, pin))
			default:
				have[r.Source] = true
			}
		}
		for _, src := range []string{ReadingFlash, ReadingRunning, ReadingSysfs} {
			if !have[src] && !slices.ContainsFunc(d.Readings, func(r FirmwareReading) bool { return r.Source == src }) {
				errs = append(errs, fmt.Sprintf("%s: no %s reading", d.Device, src))
			}
		}
		errs = append(errs, c.checkDeviceConfig(d)...)
		ok = append(ok, fmt.Sprintf("%s (%s) %s%s", d.Device, d.PSID, pin, configSummary(d)))
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("firmware not compliant: %s", strings.Join(errs, "; "))
	}
	return "every reading (mstflint flash and running, sysfs fw_ver) matches the pin: " + strings.Join(ok, ", "), nil
}

// TenantDefaultPKey is what a tenant node's port holds of the default
// partition: 0x7fff without the membership bit (limited).
const TenantDefaultPKey = 0x7fff

// HandoutFresh is how long a passed hand-out check allows the node to be
// allocated: the check is for "right before", not for the day.
const HandoutFresh = 30 * time.Second

// HandoutTimeout is how long the leader waits for a hand-out check's
// answer before it abandons it.
const HandoutTimeout = time.Minute

// Handout is a node's hand-out check: the fast re-check right before the
// node goes to its next tenant (image blocks, firmware, leftover
// processes, its own P_Key table).
type Handout struct {
	ID        string     `json:"id"`
	Challenge *Challenge `json:"challenge"`
	Started   time.Time  `json:"started"`
	// Passed is when the check passed (zero while it runs), Seq the
	// ledger entry that says so.
	Passed time.Time `json:"passed,omitzero"`
	Seq    uint64    `json:"seq,omitempty"`
}

// Clone returns a deep copy.
func (h *Handout) Clone() *Handout {
	if h == nil {
		return nil
	}
	out := *h
	out.Challenge = h.Challenge.Clone()
	return &out
}

// CheckHandout checks a hand-out answer: every part the challenge asked
// for, and no leftover process in any case. img is the node's catalog
// image when the challenge names one.
func CheckHandout(c Challenge, a Answer, img *Image) (string, error) {
	if a.Nonce != c.Nonce {
		return "", fmt.Errorf("answer is for nonce %q, the challenge was %q: not an answer to this check", a.Nonce, c.Nonce)
	}
	var parts []string
	var errs []error
	if c.Image != "" {
		if img == nil {
			errs = append(errs, fmt.Errorf("image %s is not in the catalog", c.Image))
		} else if v, err := CheckImageBlocks(c, a, *img); err != nil {
			errs = append(errs, err)
		} else {
			parts = append(parts, v)
		}
	}
	if len(c.Pins) > 0 {
		if v, err := CheckFirmware(c, a); err != nil {
			errs = append(errs, err)
		} else {
			parts = append(parts, "firmware: "+v)
		}
	}
	switch p := a.Procs; {
	case p == nil:
		errs = append(errs, errors.New("answer does not say whether processes of earlier jobs are left"))
	case len(p.Leftover) > 0:
		errs = append(errs, fmt.Errorf("processes of earlier jobs left: %s", strings.Join(p.Leftover, "; ")))
	default:
		parts = append(parts, "no process of an earlier job left ("+strings.Join(p.Checked, "; ")+")")
	}
	if c.PKeys {
		if v, err := checkOwnPKeys(a.PKeys); err != nil {
			errs = append(errs, err)
		} else {
			parts = append(parts, v)
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return strings.Join(parts, "; "), nil
}

// checkOwnPKeys: every active port holds the limited default key and no
// other (a free node is in no tenant's partition, nor a full member of
// the default one).
func checkOwnPKeys(p *PKeyAnswer) (string, error) {
	switch {
	case p == nil:
		return "", errors.New("answer has no P_Key tables")
	case p.Error != "":
		return "", fmt.Errorf("P_Key tables unreadable: %s", p.Error)
	case len(p.Ports) == 0:
		return "", errors.New("no active InfiniBand port reported a P_Key table")
	}
	var b bytes.Buffer
	for i, port := range p.Ports {
		for _, k := range port.Keys {
			if k != TenantDefaultPKey {
				return "", fmt.Errorf("port %s holds P_Key %#04x: a free node must hold only the limited default %#04x", port.Port, k, TenantDefaultPKey)
			}
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %v", port.Port, hexKeys(port.Keys))
	}
	return "own P_Key tables hold only the limited default partition: " + b.String(), nil
}

func hexKeys(ks []uint16) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = fmt.Sprintf("%#04x", k)
	}
	return out
}
