package erase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// Kind is the type of disk, which decides how it can be erased.
type Kind string

// The disk kinds.
const (
	KindFile Kind = "file" // a regular file standing in for a disk
	KindHDD  Kind = "hdd"  // rotational: only overwriting erases it
	KindSSD  Kind = "ssd"  // SATA/SAS flash: discard-based methods
	KindNVMe Kind = "nvme" // NVMe namespace: Format NVM with secure erase
)

// Disk is the target of an erase.
type Disk struct {
	Path string
	Kind Kind
	// Size is the expected size in bytes; 0 means "whatever the device
	// reports". A mismatch is an error: the inventory and the device
	// disagree about which disk this is.
	Size int64
	// Challenge, when set, is the leader's: the erase also reads back its
	// offsets and puts the answer in Evidence.Answer (challenge.go).
	Challenge *Challenge `json:"-"`
}

// Method names how a disk was erased.
type Method string

// The erase methods.
const (
	MethodOverwrite     Method = "overwrite"          // Overwrite: write the pattern over every byte
	MethodNVMeFormat    Method = "nvme-format-ses1"   // nvme format --ses=1 (user data erase)
	MethodSecureDiscard Method = "blkdiscard-secure"  // blkdiscard --secure (BLKSECDISCARD)
	MethodZeroOut       Method = "blkdiscard-zeroout" // blkdiscard --zeroout (BLKZEROOUT)
	MethodFake          Method = "fake"
)

// Eraser erases one disk. Implementations return Evidence on success and
// failure alike, and return nil only when the erase was verified.
type Eraser interface {
	Erase(ctx context.Context, d Disk) (Evidence, error)
}

// Evidence is what an erase did and checked, for the node's hygiene
// record.
type Evidence struct {
	Disk   Disk
	Method Method
	// Pattern is the overwrite pattern in hex ("00" for zeros).
	Pattern string `json:",omitempty"`
	// Bytes is how many bytes were overwritten, or reported erased by
	// the tool.
	Bytes int64
	// Verification: the PRNG seed, the sample size, and the offsets read
	// back (first block, last block, then the seeded random ones).
	Seed           uint64
	SampleSize     int
	SamplesChecked int
	SampleOffsets  []int64
	// Commands run by Block, in order, with their output.
	Commands []Command `json:",omitempty"`
	// Notes record decisions worth auditing (a method skipped, why).
	Notes []string `json:",omitempty"`
	// Answer is the read-back of the leader's challenge, when there was
	// one: what the server checks. It travels apart from the evidence
	// (TaskResult.answer_json), and the ledger records the server's
	// verdict on it.
	Answer         *model.EraseAnswer `json:"-"`
	Started        time.Time
	Finished       time.Time
	EraseDuration  time.Duration
	VerifyDuration time.Duration
}

// Command is one external command Block ran.
type Command struct {
	Args   []string
	Output string
	Err    string `json:",omitempty"`
	Start  time.Time
	End    time.Time
}

// ErrVerify is matched (errors.Is) by every *VerifyError.
var ErrVerify = errors.New("erase: verification failed")

// ErrNotSupported means the device or tool does not support a method;
// Block falls back to the next method.
var ErrNotSupported = errors.New("erase: method not supported by the device")

// VerifyError says what a read-back found instead of an erased disk.
type VerifyError struct {
	Path string
	// Offset is the first wrong byte; Want and Got describe it.
	Offset    int64
	Want, Got string
	// BadSamples of Checked samples were wrong.
	BadSamples, Checked int
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("erase: verification failed on %s: %d of %d samples wrong, first at offset %d: want %s, got %s",
		e.Path, e.BadSamples, e.Checked, e.Offset, e.Want, e.Got)
}

// Is makes errors.Is(err, ErrVerify) true.
func (e *VerifyError) Is(target error) bool { return target == ErrVerify }

// DeviceError is a failed I/O on the target, with the offset.
type DeviceError struct {
	Path   string
	Op     string
	Offset int64
	Err    error
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("erase: %s %s at offset %d: %v", e.Op, e.Path, e.Offset, e.Err)
}

func (e *DeviceError) Unwrap() error { return e.Err }
