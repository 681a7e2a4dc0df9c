package erase

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ibex-hpc/ibex/model"
)

// TestOverwriteAnswersTheChallenge: the overwrite reads back exactly the
// leader's offsets, writes the leader's pattern, and its answer passes
// the server's check; the same erase under another challenge does not.
func TestOverwriteAnswersTheChallenge(t *testing.T) {
	const size = 3<<20 + 700 // not a multiple of the sector
	dev := NewFakeDevice("disk", bytes.Repeat([]byte("A's secret "), size/11+1)[:size])
	c := model.Challenge{Nonce: "00112233445566778899aabbccddeeff", Draws: []uint64{3, 1 << 40, 77777}, SampleSize: 4096, Pattern: "5a"}
	o := &Overwrite{BlockSize: 1 << 20, Open: func(string) (Device, error) { return dev, nil }}
	ev, err := o.Erase(context.Background(), Disk{Path: "disk", Kind: KindFile,
		Challenge: &Challenge{Nonce: c.Nonce, Draws: c.Draws, SampleSize: c.SampleSize, Pattern: []byte{0x5a}}})
	if err != nil {
		t.Fatal(err)
	}
	offs, _ := model.EraseOffsets(size, c.SampleSize, c.Draws)
	if ev.Answer == nil || len(ev.Answer.Samples) != len(offs) {
		t.Fatalf("answer %+v", ev.Answer)
	}
	for i, s := range ev.Answer.Samples {
		if s.Offset != offs[i] {
			t.Errorf("sample %d read at %d, the challenge asked for %d", i, s.Offset, offs[i])
		}
	}
	a := model.Answer{Nonce: c.Nonce, Erase: ev.Answer}
	if v, err := model.CheckErase(c, a, 0); err != nil {
		t.Fatalf("the server refuses an honest answer: %v", err)
	} else {
		t.Log(v)
	}
	other := c
	other.Nonce = "ffeeddccbbaa99887766554433221100"
	if _, err := model.CheckErase(other, model.Answer{Nonce: other.Nonce, Erase: ev.Answer}, 0); err == nil {
		t.Fatal("the answer also passes a challenge it was not made for")
	}
}

// A device that drops writes fails the challenged read-back too.
func TestChallengedReadBackCatchesDroppedWrites(t *testing.T) {
	dev := NewFakeDevice("disk", bytes.Repeat([]byte{0xee}, 1<<20))
	dev.IgnoreWrites()
	o := &Overwrite{Open: func(string) (Device, error) { return dev, nil }}
	_, err := o.Erase(context.Background(), Disk{Path: "disk", Kind: KindFile,
		Challenge: &Challenge{Nonce: "00112233445566778899aabbccddeeff", Draws: []uint64{1}, SampleSize: 512}})
	if !errors.Is(err, ErrVerify) {
		t.Fatalf("err = %v, want a verification failure", err)
	}
}
