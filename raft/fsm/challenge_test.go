package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

const nonceA, nonceB = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"

func answerJSON(t *testing.T, a model.Answer) string {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// eraseAnswer is what an honest agent reads back from a disk of size
// bytes holding pattern everywhere.
func eraseAnswer(c model.Challenge, size int64, pattern []byte) model.Answer {
	offs, ss := model.EraseOffsets(size, c.SampleSize, c.Draws)
	e := &model.EraseAnswer{Method: "overwrite", Pattern: hex.EncodeToString(pattern), DiskSize: size, BytesErased: size, SampleSize: ss}
	for _, off := range offs {
		buf := make([]byte, ss)
		for i := range buf {
			buf[i] = pattern[(off+int64(i))%int64(len(pattern))]
		}
		e.Samples = append(e.Samples, model.SampleAnswer{Offset: off, SHA256: model.SampleDigest(c.Nonce, off, buf)})
	}
	return model.Answer{Nonce: c.Nonce, Erase: e}
}

func lastEntry(f *FSM, node string) model.LedgerEntry {
	l := f.View().Ledger[node]
	return l[len(l)-1]
}

// TestEraseAnswerMustMatchTheChallenge: an erase counts only with an
// answer made for this task's challenge: not a replay of an earlier
// answer, not one for fewer bytes than the disk, not one from another
// disk; the checked answer's verdict is in the ledger.
func TestEraseAnswerMustMatchTheChallenge(t *testing.T) {
	f := harness(t, 1)
	enrolled(t, f, "node001")
	const size = 1 << 20
	zero := []byte{0}
	first := model.Challenge{Nonce: nonceA, Draws: []uint64{1, 99, 12345678901}, SampleSize: 4096}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e1", Kind: model.TaskErase, Challenge: &first}}))
	good := eraseAnswer(first, size, zero)
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e1", OK: true, Evidence: "{}", Answer: answerJSON(t, good)}))
	e := lastEntry(f, "node001")
	if !e.OK || !strings.Contains(e.Evidence, "5 samples of 4096 bytes at the leader's offsets, all hold pattern 00") {
		t.Fatalf("honest answer: %+v", e)
	}
	if n := f.View().Nodes["node001"]; n.DiskSize != size {
		t.Fatalf("disk size %d not pinned", n.DiskSize)
	}

	second := model.Challenge{Nonce: nonceB, Draws: []uint64{7, 8, 9}, SampleSize: 4096}
	dirty := eraseAnswer(second, size, []byte("A's secret"))
	short := eraseAnswer(second, size, zero)
	short.Erase.BytesErased = size / 2
	other := eraseAnswer(second, 2*size, zero)
	noPattern := eraseAnswer(second, size, zero)
	noPattern.Erase.Pattern = ""
	offsets := eraseAnswer(second, size, zero)
	offsets.Erase.Samples[2].Offset += model.SectorSize
	for name, a := range map[string]model.Answer{
		"replay of the first answer": good,
		"forged: nothing erased":     {Nonce: nonceB},
		"disk still holds data":      dirty,
		"half the disk":              short,
		"another disk":               other,
		"offsets of its choosing":    offsets,
		"no pattern to check":        noPattern,
	} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e-" + name, Kind: model.TaskErase, Challenge: &second}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e-" + name, OK: true, Evidence: `{"note":"nothing was erased"}`, Answer: answerJSON(t, a)}))
		if e := lastEntry(f, "node001"); e.OK || !strings.Contains(e.Evidence, "the server refused the agent's answer") {
			t.Errorf("%s: accepted: %+v", name, e)
		}
		// Undo the failure count so every case gets its own try.
		f.state.Nodes["node001"].StepFailures = nil
	}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "e3", Kind: model.TaskErase, Challenge: &second}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "e3", OK: true, Answer: answerJSON(t, eraseAnswer(second, size, zero))}))
	if e := lastEntry(f, "node001"); !e.OK {
		t.Fatalf("honest second answer refused: %s", e.Evidence)
	}
}

// testImage is a 3-block image (the last one short) with its block list.
func testImage(t *testing.T) (model.Image, []byte) {
	content := bytes.Repeat([]byte("ibex image "), 300000) // 3.3 MB: 4 blocks of 1 MiB
	h := model.NewBlockHasher(model.ImageBlockSize(int64(len(content))))
	h.Write(content)
	sum, size := h.Sum()
	img := model.Image{Name: "rocky9", Version: "3", Size: size, SHA256: sum, SourceURL: "file:///img", BlockSize: h.BlockSize, Blocks: h.Blocks}
	if err := img.ValidateBlocks(); err != nil {
		t.Fatal(err)
	}
	return img, content
}

func blockAnswer(c model.Challenge, img model.Image, disk []byte) model.Answer {
	a := &model.ImageAnswer{Image: img.Ref(), BlockSize: img.BlockSize}
	for _, b := range c.Blocks {
		end := min(int64(b+1)*img.BlockSize, img.Size)
		sum := sha256.Sum256(disk[int64(b)*img.BlockSize : end])
		a.Blocks = append(a.Blocks, model.BlockAnswer{Index: b, SHA256: hex.EncodeToString(sum[:])})
	}
	return model.Answer{Nonce: c.Nonce, Image: a}
}

func TestImageBlocksMustMatchTheCatalog(t *testing.T) {
	f := harness(t, 1)
	enrolled(t, f, "node001")
	img, content := testImage(t)
	must(t, f.Apply(&AddImage{Image: img}))
	c := model.Challenge{Nonce: nonceA, Image: img.Ref(), Blocks: []int{3, 1}}
	flipped := bytes.Clone(content)
	flipped[3<<20+5] ^= 1
	for name, a := range map[string]model.Answer{
		"a flipped byte in the last block": blockAnswer(c, img, flipped),
		"other blocks":                     blockAnswer(model.Challenge{Nonce: nonceA, Blocks: []int{0, 2}}, img, content),
	} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "i-" + name, Kind: model.TaskImage, Image: img.Ref(), Challenge: &c}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "i-" + name, OK: true, Answer: answerJSON(t, a)}))
		if e := lastEntry(f, "node001"); e.OK {
			t.Errorf("%s: accepted: %s", name, e.Evidence)
		}
		if n := f.View().Nodes["node001"]; n.Image != "" {
			t.Errorf("%s: node holds image %q", name, n.Image)
		}
	}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "i", Kind: model.TaskImage, Image: img.Ref(), Challenge: &c}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "i", OK: true, Answer: answerJSON(t, blockAnswer(c, img, content))}))
	if e := lastEntry(f, "node001"); !e.OK || !strings.Contains(e.Evidence, "2 blocks of 1048576 bytes chosen by the leader ([3 1]) match") {
		t.Fatalf("honest answer: %+v", e)
	}
}

func firmwareAnswer(nonce, psid string, flash, running, sysfs string) model.Answer {
	return model.Answer{Nonce: nonce, Firmware: &model.FirmwareAnswer{Devices: []model.FirmwareDevice{{Device: "mlx5_0", PSID: psid,
		Readings: []model.FirmwareReading{{Source: model.ReadingFlash, Version: flash}, {Source: model.ReadingRunning, Version: running}, {Source: model.ReadingSysfs, Version: sysfs}}}}}}
}

// TestFirmwareEveryReadingAgrees: compliant only when mstflint's flash and
// running versions and sysfs fw_ver all match the pin.
func TestFirmwareEveryReadingAgrees(t *testing.T) {
	f := harness(t, 1)
	enrolled(t, f, "node001")
	c := model.Challenge{Nonce: nonceA, Pins: map[string]string{"MT_1": "20.31.2006"}}
	const pin, old = "20.31.2006", "20.31.1014"
	noSysfs := firmwareAnswer(nonceA, "MT_1", pin, pin, pin)
	noSysfs.Firmware.Devices[0].Readings = noSysfs.Firmware.Devices[0].Readings[:2]
	for name, a := range map[string]model.Answer{
		"sysfs disagrees":    firmwareAnswer(nonceA, "MT_1", pin, pin, old),
		"pending reset":      firmwareAnswer(nonceA, "MT_1", pin, old, old),
		"flash downgraded":   firmwareAnswer(nonceA, "MT_1", old, pin, pin),
		"unpinned board":     firmwareAnswer(nonceA, "MT_2", pin, pin, pin),
		"no sysfs reading":   noSysfs,
		"answer for another": firmwareAnswer(nonceB, "MT_1", pin, pin, pin),
	} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "f-" + name, Kind: model.TaskFirmware, Challenge: &c}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "f-" + name, OK: true, Evidence: `{"outcome":"already-compliant"}`, Answer: answerJSON(t, a)}))
		if e := lastEntry(f, "node001"); e.OK {
			t.Errorf("%s: compliant: %s", name, e.Evidence)
		}
		f.state.Nodes["node001"].StepFailures = nil
	}
	must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: "f", Kind: model.TaskFirmware, Challenge: &c}}))
	must(t, f.Apply(&TaskDone{Node: "node001", TaskID: "f", OK: true, Answer: answerJSON(t, firmwareAnswer(nonceA, "MT_1", pin, pin, pin))}))
	if e := lastEntry(f, "node001"); !e.OK {
		t.Fatalf("compliant refused: %s", e.Evidence)
	}
}

// readyAgentNode leaves node001 ready after a cleaning with image img.
func readyAgentNode(t *testing.T, f *FSM, img model.Image) {
	t.Helper()
	enrolled(t, f, "node001")
	must(t, f.Apply(&AddImage{Image: img}))
	for _, k := range []model.TaskKind{model.TaskErase, model.TaskFirmware, model.TaskImage} {
		must(t, f.Apply(&StartTask{Node: "node001", Task: model.NodeTask{ID: string(k), Kind: k, Image: img.Ref()}}))
		must(t, f.Apply(&TaskDone{Node: "node001", TaskID: string(k), OK: true, Evidence: "{}"}))
	}
	must(t, f.Apply(&NodeCleaned{Node: "node001", Image: img.Ref(), Evidence: "x", Time: t0}))
}

func handoutAnswer(c model.Challenge, img model.Image, disk []byte, leftover ...string) string {
	a := blockAnswer(c, img, disk)
	a.Firmware = firmwareAnswer(c.Nonce, "MT_1", "20.31.2006", "20.31.2006", "20.31.2006").Firmware
	a.Procs = &model.ProcAnswer{Checked: []string{"job cgroups under /sys/fs/cgroup/ibex.slice"}, Leftover: leftover}
	a.PKeys = &model.PKeyAnswer{Ports: []model.PortKeys{{Port: "mlx5_0/1", Keys: []uint16{0x7fff}}}}
	b, _ := json.Marshal(a)
	return string(b)
}

// TestHandoutCheckGatesAllocation: once leaders check nodes before they
// are handed out, a node is allocated only with a passed check that is
// fresh and still its last ledger entry; a failed check quarantines it.
func TestHandoutCheckGatesAllocation(t *testing.T) {
	f := harness(t, 1)
	img, content := testImage(t)
	readyAgentNode(t, f, img)
	id := submit(t, f, "alice", 1)
	// Before any check exists (old logs), allocation is as it was.
	if r := f.Apply(&Allocate{JobID: id, Nodes: []string{"node001"}, Time: t0}); r.Err != nil {
		t.Fatalf("ungated allocation refused: %v", r.Err)
	}
	must(t, f.Apply(&FinishJob{JobID: id, State: model.JobCompleted, Time: t0}))
	must(t, f.Apply(&JobStopped{Node: "node001", JobID: id, Evidence: "cgroup empty and removed", Time: t0}))
	if e := lastEntry(f, "node001"); e.Step != "stop" || e.JobID != id {
		t.Fatalf("stop entry: %+v", e)
	}
	if r := f.Apply(&JobStopped{Node: "node001", JobID: id, Evidence: "again", Time: t0}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second stop: %v", r.Err)
	}
	f.state.Nodes["node001"].State = model.NodeReady // cleaned, as above

	c := model.Challenge{Nonce: nonceA, Image: img.Ref(), Blocks: []int{2, 0}, Pins: map[string]string{"MT_1": "20.31.2006"}, PKeys: true}
	check := func(id string, at time.Time) {
		t.Helper()
		must(t, f.Apply(&StartHandoutCheck{Node: "node001", Check: model.Handout{ID: id, Challenge: &c, Started: at}}))
	}
	job := submit(t, f, "alice", 1)
	at := t0.Add(time.Hour)
	check("h1", at)
	if r := f.Apply(&Allocate{JobID: job, Nodes: []string{"node001"}, Time: at}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("allocated during the check: %v", r.Err)
	}
	must(t, f.Apply(&HandoutChecked{Node: "node001", ID: "h1", OK: true, Answer: handoutAnswer(c, img, content), Time: at}))
	if e := lastEntry(f, "node001"); !e.OK || e.Step != HandoutStep || !strings.Contains(e.Evidence, "match the catalog's hashes") || !strings.Contains(e.Evidence, "only the limited default") {
		t.Fatalf("passed check's entry: %+v", e)
	}
	if r := f.Apply(&Allocate{JobID: job, Nodes: []string{"node001"}, Time: at.Add(model.HandoutFresh + time.Second)}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("allocated on a stale check: %v", r.Err)
	}
	must(t, f.Apply(&LabelNode{Node: "node001", Features: nil}))
	must(t, f.Apply(&DrainNode{Node: "node001", Reason: "look", By: "admin", Time: at}))
	must(t, f.Apply(&UndrainNode{Node: "node001", Time: at}))
	if r := f.Apply(&Allocate{JobID: job, Nodes: []string{"node001"}, Time: at}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("allocated although the ledger moved on since the check: %v", r.Err)
	}
	check("h2", at)
	must(t, f.Apply(&HandoutChecked{Node: "node001", ID: "h2", OK: true, Answer: handoutAnswer(c, img, content), Time: at}))
	must(t, f.Apply(&Allocate{JobID: job, Nodes: []string{"node001"}, Time: at.Add(time.Second)}))
	if n := f.View().Nodes["node001"]; n.Handout != nil {
		t.Fatal("the check was not consumed by the allocation")
	}
}

func TestFailedHandoutCheckQuarantines(t *testing.T) {
	img, content := testImage(t)
	flipped := bytes.Clone(content)
	flipped[10] ^= 0x40
	c := model.Challenge{Nonce: nonceA, Image: img.Ref(), Blocks: []int{0}, PKeys: true}
	withKey := handoutAnswer(c, img, content)
	withKey = strings.Replace(withKey, `"keys":[32767]`, `"keys":[32767,32784]`, 1)
	for name, tc := range map[string]struct {
		answer, want string
	}{
		"flipped byte":       {handoutAnswer(c, img, flipped), "blocks [0] on the disk differ"},
		"leftover process":   {handoutAnswer(c, img, content, "4242 (sleep)"), "processes of earlier jobs left: 4242 (sleep)"},
		"old tenant's key":   {withKey, "holds P_Key 0x8010"},
		"replayed answer":    {strings.Replace(handoutAnswer(c, img, content), nonceA, nonceB, 1), "not an answer to this check"},
		"no answer at all":   {"", "no answer to the challenge"},
		"answer far too big": {`{"nonce":"` + strings.Repeat("a", model.MaxAnswerBytes) + `"}`, "at most"},
	} {
		t.Run(name, func(t *testing.T) {
			f := harness(t, 1)
			readyAgentNode(t, f, img)
			must(t, f.Apply(&StartHandoutCheck{Node: "node001", Check: model.Handout{ID: "h", Challenge: &c, Started: t0}}))
			must(t, f.Apply(&HandoutChecked{Node: "node001", ID: "h", OK: true, Answer: tc.answer, Time: t0}))
			n := f.View().Nodes["node001"]
			if n.State != model.NodeQuarantined || !strings.Contains(n.Reason, tc.want) {
				t.Fatalf("node %s (%s), want quarantined for %q", n.State, n.Reason, tc.want)
			}
			l := f.View().Ledger["node001"]
			if e := l[len(l)-2]; e.Step != HandoutStep || e.OK {
				t.Fatalf("check entry: %+v", e)
			}
		})
	}
}

func TestAbandonedHandoutCheckKeepsTheNode(t *testing.T) {
	f := harness(t, 1)
	img, _ := testImage(t)
	readyAgentNode(t, f, img)
	c := model.Challenge{Nonce: nonceA}
	must(t, f.Apply(&StartHandoutCheck{Node: "node001", Check: model.Handout{ID: "h", Challenge: &c, Started: t0}}))
	if r := f.Apply(&StartHandoutCheck{Node: "node001", Check: model.Handout{ID: "h2", Challenge: &c, Started: t0.Add(time.Second)}}); !errors.Is(r.Err, ErrConflict) {
		t.Fatalf("second check while one runs: %v", r.Err)
	}
	must(t, f.Apply(&HandoutChecked{Node: "node001", ID: "h", Abandoned: true, Time: t0.Add(model.HandoutTimeout)}))
	if n := f.View().Nodes["node001"]; n.State != model.NodeReady || n.Handout != nil {
		t.Fatalf("after abandoning: %s %+v", n.State, n.Handout)
	}
	if e := lastEntry(f, "node001"); e.OK || !strings.Contains(e.Evidence, "abandoned") {
		t.Fatalf("entry: %+v", e)
	}
}
