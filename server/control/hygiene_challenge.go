package control

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"

	"github.com/ibex-hpc/ibex/model"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// The leader's challenges (model.Challenge): chosen here, with the
// system's CSPRNG, when a hygiene task or a hand-out check starts, and
// recorded in the replicated task before the agent sees them. The FSM
// checks the agent's answer against the recorded challenge, so neither a
// replayed journal entry nor an answer the agent made up before the task
// existed can pass.

// Challenge sizes. An erase reads eraseSamples+2 samples of sampleSize
// bytes (first and last block, then the random ones): 264 KiB. An image
// task checks imageBlocks whole blocks (1 MiB each for images up to 4
// GiB); the hand-out check, which runs before every allocation, fewer.
const (
	eraseSamples   = 64
	sampleSize     = 4096
	imageBlocks    = 8
	handoutBlocks  = 4
	maxChallengeIx = 1 << 31
)

func newNonce() string {
	var b [model.ChallengeNonceBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux
	}
	return model.NewNonce(b)
}

func randUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return binary.BigEndian.Uint64(b[:])
}

// pickBlocks returns k distinct block indices of n, in random order (all
// of them when n ≤ k).
func pickBlocks(n, k int) []int {
	if n <= 0 {
		return nil
	}
	if n > maxChallengeIx {
		n = maxChallengeIx
	}
	seen := map[int]bool{}
	var out []int
	for len(out) < min(n, k) {
		i := int(randUint64() % uint64(n))
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// pinsByPSID is the firmware policy as a challenge holds it.
func (c *jobController) pinsByPSID() map[string]string {
	if len(c.cfg.FirmwarePins) == 0 {
		return nil
	}
	m := make(map[string]string, len(c.cfg.FirmwarePins))
	for _, p := range c.cfg.FirmwarePins {
		m[p.PSID] = p.Version
	}
	return m
}

// imageBlocksChallenge fills in k random blocks of the catalog image ref,
// when the catalog has its block list.
func imageBlocksChallenge(ch *model.Challenge, img model.Image, k int) {
	if !img.HasBlocks() {
		return
	}
	ch.Image = img.Ref()
	ch.Blocks = pickBlocks(len(img.Blocks), k)
}

// taskChallenge is the challenge for a hygiene task of kind.
func (c *jobController) taskChallenge(kind model.TaskKind, img model.Image) *model.Challenge {
	ch := &model.Challenge{Nonce: newNonce()}
	switch kind {
	case model.TaskErase:
		ch.SampleSize = sampleSize
		for range eraseSamples {
			ch.Draws = append(ch.Draws, randUint64())
		}
	case model.TaskImage:
		imageBlocksChallenge(ch, img, imageBlocks)
	case model.TaskFirmware:
		ch.Pins = c.pinsByPSID()
	}
	return ch
}

// challengeJSON is the wire form of a recorded challenge ("" for none).
func challengeJSON(ch *model.Challenge) string {
	if ch == nil {
		return ""
	}
	b, err := json.Marshal(ch)
	if err != nil {
		return ""
	}
	return string(b)
}

// wireImage is a catalog image on the agent stream, block list included.
func wireImage(img model.Image) *pb.Image {
	return &pb.Image{Name: img.Name, Version: img.Version, Size: uint64(img.Size), Sha256: img.SHA256, SourceUrl: img.SourceURL,
		BlockSize: uint64(img.BlockSize), BlockSha256: img.Blocks}
}

// wirePins is the firmware policy on the agent stream.
func (c *jobController) wirePins() []*pb.FirmwarePin {
	var out []*pb.FirmwarePin
	for _, p := range c.cfg.FirmwarePins {
		out = append(out, &pb.FirmwarePin{Psid: p.PSID, Version: p.Version, Sha256: p.SHA256, File: p.File})
	}
	return out
}
