package erase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"
	"unicode"
)

// Block erases real block devices with the kernel's and the drive's own
// erase commands instead of writing every byte.
//
// It is a sketch, and honest about it: it selects methods, builds command
// lines, parses the tools' output and verifies the result, and it is
// tested with recorded output and fake runners (and with the real
// blkdiscard on a loop device when tests run as root). It has not been run
// against real SSDs, NVMe drives or HDDs here.
//
// Methods by kind, tried in order until one is supported:
//
//	nvme  nvme format DEV --ses=1 --force      (if nvme-cli is installed and
//	                                           id-ctrl shows Format NVM)
//	      blkdiscard --secure --verbose DEV
//	      blkdiscard --zeroout --verbose DEV
//	ssd   blkdiscard --secure --verbose DEV
//	      blkdiscard --zeroout --verbose DEV
//	hdd   blkdiscard --zeroout --verbose DEV
//
// A plain discard (blkdiscard without --secure or --zeroout) is never an
// erase: after TRIM a drive may keep returning the old data, so it is not
// offered. --zeroout always works (the kernel falls back to writing
// zeros) and is the last resort.
//
// Verification does not trust exit codes. Before erasing, Block writes
// random canary blocks at the first and last blocks and at seeded random
// offsets; afterwards it reads them back (page cache dropped) and fails
// with a *VerifyError if any still holds its canary, or, after --zeroout,
// any byte is not zero.
type Block struct {
	// Run executes a command and returns its combined stdout and stderr.
	// nil runs it with os/exec under LC_ALL=C, since the parsers match
	// the tools' untranslated messages.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// LookPath reports whether an optional tool (nvme) is installed; nil
	// means exec.LookPath.
	LookPath func(file string) (string, error)
	// Open opens the device for the canary blocks; nil means OpenDevice.
	// Block closes it before running a tool: the tools open the device
	// exclusively, as OpenDevice does.
	Open func(path string) (Device, error)
	// Samples, SampleSize and Seed as for Overwrite.
	Samples    int
	SampleSize int
	Seed       uint64
}

var _ Eraser = (*Block)(nil)

// Erase erases d.Path (a /dev path) by its Kind, then verifies.
func (b *Block) Erase(ctx context.Context, d Disk) (Evidence, error) {
	ev := Evidence{Disk: d, Started: time.Now()}
	err := b.erase(ctx, d, &ev)
	ev.Finished = time.Now()
	return ev, err
}

func (b *Block) erase(ctx context.Context, d Disk, ev *Evidence) error {
	if err := checkDevicePath(d.Path); err != nil {
		return err
	}
	out, err := b.run(ctx, ev, "blockdev", "--getsize64", d.Path)
	if err != nil {
		return fmt.Errorf("erase: blockdev: %w: %s", err, summarize(out))
	}
	size, err := ParseSize(out)
	if err != nil {
		return err
	}
	if d.Size > 0 && d.Size != size {
		return fmt.Errorf("erase: %s is %d bytes, inventory says %d", d.Path, size, d.Size)
	}
	methods, err := b.Plan(ctx, d, ev)
	if err != nil {
		return err
	}

	s := sampling{Samples: b.Samples, SampleSize: b.SampleSize, Seed: b.Seed}.withDefaults()
	offs, sampleSize := s.offsets(size)
	offs = disjoint(offs, sampleSize)
	ev.Seed, ev.SampleSize, ev.SampleOffsets = s.Seed, sampleSize, offs
	canaries, err := b.writeCanaries(ctx, d.Path, offs, sampleSize, s.Seed)
	if err != nil {
		return err
	}

	start := time.Now()
	for _, m := range methods {
		err = b.apply(ctx, ev, m, d.Path, size)
		if errors.Is(err, ErrNotSupported) {
			ev.Notes = append(ev.Notes, fmt.Sprintf("%s not supported, falling back: %v", m, err))
			continue
		}
		if err != nil {
			return err
		}
		ev.Method = m
		break
	}
	ev.EraseDuration = time.Since(start)
	if ev.Method == "" {
		return fmt.Errorf("erase: no method worked for %s: %w", d.Path, err)
	}

	start = time.Now()
	dev, err := b.open(d.Path)
	if err != nil {
		return err
	}
	defer dev.Close()
	ev.SamplesChecked, err = verify(ctx, dev, d.Path, offs, sampleSize, canaryCheck(canaries, ev.Method == MethodZeroOut))
	if err == nil && d.Challenge != nil {
		// Only --zeroout leaves content the server can predict; a drive's
		// own erase is checked for the offsets (and the canaries above).
		var pattern []byte
		if ev.Method == MethodZeroOut {
			pattern = []byte{0}
		}
		ev.Answer, err = answer(ctx, dev, d, size, size, ev.Method, pattern, d.Challenge)
	}
	ev.VerifyDuration = time.Since(start)
	return err
}

// Plan selects the methods to try for d, best first. For NVMe it asks the
// controller (nvme id-ctrl) whether it supports Format NVM; commands it
// runs are recorded in ev, decisions in ev.Notes.
func (b *Block) Plan(ctx context.Context, d Disk, ev *Evidence) ([]Method, error) {
	switch d.Kind {
	case KindHDD:
		return []Method{MethodZeroOut}, nil
	case KindSSD:
		return []Method{MethodSecureDiscard, MethodZeroOut}, nil
	case KindNVMe:
		fallback := []Method{MethodSecureDiscard, MethodZeroOut}
		lookPath := b.LookPath
		if lookPath == nil {
			lookPath = exec.LookPath
		}
		if _, err := lookPath("nvme"); err != nil {
			ev.Notes = append(ev.Notes, "nvme-cli not installed: cannot use Format NVM")
			return fallback, nil
		}
		out, err := b.run(ctx, ev, "nvme", "id-ctrl", d.Path, "--output-format=json")
		if err != nil {
			ev.Notes = append(ev.Notes, fmt.Sprintf("nvme id-ctrl failed (%v): not using Format NVM", err))
			return fallback, nil
		}
		c, err := ParseIDCtrl([]byte(out))
		if err != nil {
			ev.Notes = append(ev.Notes, fmt.Sprintf("%v: not using Format NVM", err))
			return fallback, nil
		}
		ev.Notes = append(ev.Notes, fmt.Sprintf("controller %q firmware %q: oacs=%#x fna=%#x sanicap=%#x", c.Model, c.Firmware, c.OACS, c.FNA, c.SANICAP))
		if !c.SupportsFormat() {
			ev.Notes = append(ev.Notes, "controller does not support Format NVM (OACS bit 1 clear)")
			return fallback, nil
		}
		if c.EraseAffectsAllNamespaces() {
			ev.Notes = append(ev.Notes, "FNA bit 1 set: a secure-erase format erases every namespace on this controller")
		}
		return append([]Method{MethodNVMeFormat}, fallback...), nil
	}
	return nil, fmt.Errorf("erase: Block cannot erase a %q disk (%s); use Overwrite for files", d.Kind, d.Path)
}

// CommandFor returns the command line a method runs for path.
func CommandFor(m Method, path string) ([]string, error) {
	switch m {
	case MethodNVMeFormat:
		return []string{"nvme", "format", path, "--ses=1", "--force"}, nil
	case MethodSecureDiscard:
		return []string{"blkdiscard", "--secure", "--verbose", path}, nil
	case MethodZeroOut:
		return []string{"blkdiscard", "--zeroout", "--verbose", path}, nil
	}
	return nil, fmt.Errorf("erase: method %q has no command", m)
}

// apply runs one method and checks what the tool reports.
func (b *Block) apply(ctx context.Context, ev *Evidence, m Method, path string, size int64) error {
	argv, err := CommandFor(m, path)
	if err != nil {
		return err
	}
	out, runErr := b.run(ctx, ev, argv[0], argv[1:]...)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if m == MethodNVMeFormat {
		if err := ParseNVMeFormat(out, runErr); err != nil {
			return err
		}
		ev.Bytes = size
		return nil
	}
	if runErr != nil {
		return blkdiscardFailure(out, runErr)
	}
	r, err := ParseBlkdiscard(out, path)
	if err != nil {
		return err
	}
	if r.Offset != 0 || r.Bytes != size || r.Zeroed != (m == MethodZeroOut) {
		return fmt.Errorf("erase: blkdiscard covered %d bytes from %d (zeroed %v) of a %d-byte device", r.Bytes, r.Offset, r.Zeroed, size)
	}
	ev.Bytes = r.Bytes
	return nil
}

// writeCanaries writes a random block at every sample offset, makes it
// durable and closes the device. canaries[off] is what was written there.
func (b *Block) writeCanaries(ctx context.Context, path string, offs []int64, sampleSize int, seed uint64) (map[int64][]byte, error) {
	dev, err := b.open(path)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	key[31] = 'c' // distinct from the offset PRNG's stream
	rng := rand.NewChaCha8(key)
	canaries := make(map[int64][]byte, len(offs))
	for _, off := range offs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := make([]byte, sampleSize)
		rng.Read(c)
		n, err := dev.WriteAt(c, off)
		if err == nil && n < len(c) {
			err = errors.New("short write")
		}
		if err != nil {
			return nil, &DeviceError{Path: path, Op: "write canary", Offset: off + int64(n), Err: err}
		}
		canaries[off] = c
	}
	if err := dev.Sync(); err != nil {
		return nil, &DeviceError{Path: path, Op: "sync", Err: err}
	}
	return canaries, nil
}

// canaryCheck fails a sample that still holds its canary: equal, or
// agreeing in more than 1/8 of its bytes (random data agrees in ~1/256), so
// a partly erased sample is caught too. wantZero also requires zeros.
func canaryCheck(canaries map[int64][]byte, wantZero bool) sampleCheck {
	return func(off int64, got []byte) (int, string, string) {
		c := canaries[off]
		same, first := 0, -1
		for i := range got {
			if i < len(c) && got[i] == c[i] {
				same++
				if first < 0 {
					first = i
				}
			}
		}
		if same > len(got)/8 || bytes.Equal(got, c) {
			return first, "not the canary written before the erase", fmt.Sprintf("%d of %d bytes still the canary", same, len(got))
		}
		if wantZero {
			for i, v := range got {
				if v != 0 {
					return i, "0x00 after zeroout", fmt.Sprintf("%#02x", v)
				}
			}
		}
		return -1, "", ""
	}
}

// disjoint drops offsets whose sample would overlap an earlier one, so
// that each canary block stays intact until the erase.
func disjoint(offs []int64, sampleSize int) []int64 {
	var kept []int64
	for _, o := range offs {
		ok := true
		for _, k := range kept {
			if o < k+int64(sampleSize) && k < o+int64(sampleSize) {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, o)
		}
	}
	return kept
}

func (b *Block) open(path string) (Device, error) {
	if b.Open != nil {
		return b.Open(path)
	}
	return OpenDevice(path)
}

// run executes a tool and records it in the evidence.
func (b *Block) run(ctx context.Context, ev *Evidence, name string, args ...string) (string, error) {
	run := b.Run
	if run == nil {
		run = execRun
	}
	c := Command{Args: append([]string{name}, args...), Start: time.Now()}
	out, err := run(ctx, name, args...)
	c.End, c.Output = time.Now(), string(out)
	if err != nil {
		c.Err = err.Error()
	}
	ev.Commands = append(ev.Commands, c)
	return string(out), err
}

func execRun(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// checkDevicePath accepts only clean absolute /dev paths without spaces or
// control characters: the path goes on a command line of a tool that
// destroys data.
func checkDevicePath(p string) error {
	if !strings.HasPrefix(p, "/dev/") || path.Clean(p) != p || strings.IndexFunc(p, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return fmt.Errorf("erase: %q is not a clean /dev path", p)
	}
	return nil
}
