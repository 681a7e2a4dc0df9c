package erase

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// step is one expected command: its exact command line, what it prints,
// its error, and what it does to the fake device.
type step struct {
	cmd    string
	out    string
	err    error
	effect func(*FakeDevice)
}

// script is a fake command runner that insists on the expected command
// lines, in order.
type script struct {
	t     *testing.T
	dev   *FakeDevice
	steps []step
	ran   []string
}

func (s *script) run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	i := len(s.ran)
	s.ran = append(s.ran, line)
	if i >= len(s.steps) || s.steps[i].cmd != line {
		s.t.Errorf("command %d: unexpected %q", i, line)
		return nil, errors.New("unexpected command")
	}
	if s.steps[i].effect != nil {
		s.steps[i].effect(s.dev)
	}
	return []byte(s.steps[i].out), s.steps[i].err
}

func (s *script) block(nvme bool) *Block {
	return &Block{
		Run:  s.run,
		Open: func(string) (Device, error) { return s.dev, nil },
		LookPath: func(f string) (string, error) {
			if nvme && f == "nvme" {
				return "/usr/sbin/nvme", nil
			}
			return "", errors.New("not found")
		},
		Seed: 99,
	}
}

var errExit1 = errors.New("exit status 1")

func zero(d *FakeDevice) { d.Fill(0) }

// scramble stands for an erase whose result reads as noise (a crypto
// erase): not zeros, not the canaries.
func scramble(d *FakeDevice) {
	b := randomBytes(len(d.Bytes()), 77)
	d.mu.Lock()
	copy(d.data, b)
	d.mu.Unlock()
}

// TestBlockRecordedLoop replays the output recorded from the real
// blkdiscard on a 64 MiB loop device: secure discard is not supported,
// so Block falls back to zeroout and verifies zeros.
func TestBlockRecordedLoop(t *testing.T) {
	const dev = "/dev/loop0"
	s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(64<<20, 5)), steps: []step{
		{cmd: "blockdev --getsize64 " + dev, out: readFixture(t, "blockdev_getsize64_64MiB.txt")},
		{cmd: "blkdiscard --secure --verbose " + dev, out: readFixture(t, "blkdiscard_secure_eopnotsupp.txt"), err: errExit1},
		{cmd: "blkdiscard --zeroout --verbose " + dev, out: readFixture(t, "blkdiscard_zeroout_64MiB.txt"), effect: zero},
	}}
	ev, err := s.block(false).Erase(context.Background(), Disk{Path: dev, Kind: KindSSD, Size: 64 << 20})
	if err != nil {
		t.Fatalf("Erase: %v\n%+v", err, ev)
	}
	if ev.Method != MethodZeroOut || ev.Bytes != 64<<20 || len(ev.Commands) != 3 || ev.Seed != 99 {
		t.Errorf("evidence: %+v", ev)
	}
	if len(ev.Notes) != 1 || !strings.Contains(ev.Notes[0], "blkdiscard-secure not supported") {
		t.Errorf("notes: %q", ev.Notes)
	}
	if ev.SamplesChecked != len(ev.SampleOffsets) || ev.SamplesChecked < 2 {
		t.Errorf("samples: %d of %v", ev.SamplesChecked, ev.SampleOffsets)
	}
	if ev.Commands[1].Err == "" || ev.Commands[2].Output == "" {
		t.Errorf("commands not recorded with output and error: %+v", ev.Commands)
	}
}

func TestBlockNVMe(t *testing.T) {
	const dev, size = "/dev/nvme0n1", 4 << 20
	sizeOut := fmt.Sprintf("%d\n", size)
	t.Run("format", func(t *testing.T) {
		s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(size, 6)), steps: []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "nvme id-ctrl " + dev + " --output-format=json", out: readFixture(t, "nvme_id_ctrl.json")},
			{cmd: "nvme format " + dev + " --ses=1 --force", out: readFixture(t, "nvme_format_success.txt"), effect: scramble},
		}}
		ev, err := s.block(true).Erase(context.Background(), Disk{Path: dev, Kind: KindNVMe})
		if err != nil {
			t.Fatalf("Erase: %v\n%+v", err, ev)
		}
		if ev.Method != MethodNVMeFormat || ev.Bytes != size || !strings.Contains(strings.Join(ev.Notes, "\n"), `"EXAMPLE NVMe 1TB"`) {
			t.Errorf("evidence: %+v", ev)
		}
	})
	t.Run("ses rejected", func(t *testing.T) {
		s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(size, 7)), steps: []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "nvme id-ctrl " + dev + " --output-format=json", out: readFixture(t, "nvme_id_ctrl.json")},
			{cmd: "nvme format " + dev + " --ses=1 --force", out: readFixture(t, "nvme_format_invalid_field.txt"), err: errExit1},
			{cmd: "blkdiscard --secure --verbose " + dev, out: "blkdiscard: " + dev + ": BLKSECDISCARD ioctl failed: Operation not supported\n", err: errExit1},
			{cmd: "blkdiscard --zeroout --verbose " + dev, out: dev + ": Zero-filled 4194304 bytes from the offset 0\n", effect: zero},
		}}
		ev, err := s.block(true).Erase(context.Background(), Disk{Path: dev, Kind: KindNVMe})
		if err != nil || ev.Method != MethodZeroOut || len(ev.Notes) != 3 {
			t.Fatalf("want fallback to zeroout, got %v\n%+v", err, ev)
		}
	})
	t.Run("no format support", func(t *testing.T) {
		s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(size, 8)), steps: []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "nvme id-ctrl " + dev + " --output-format=json", out: readFixture(t, "nvme_id_ctrl_noformat.json")},
			{cmd: "blkdiscard --secure --verbose " + dev, out: dev + ": Discarded 4194304 bytes from the offset 0\n", effect: scramble},
		}}
		ev, err := s.block(true).Erase(context.Background(), Disk{Path: dev, Kind: KindNVMe})
		if err != nil || ev.Method != MethodSecureDiscard {
			t.Fatalf("want secure discard, got %v\n%+v", err, ev)
		}
	})
	t.Run("no nvme-cli", func(t *testing.T) {
		s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(size, 9)), steps: []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "blkdiscard --secure --verbose " + dev, out: dev + ": Discarded 4194304 bytes from the offset 0\n", effect: scramble},
		}}
		ev, err := s.block(false).Erase(context.Background(), Disk{Path: dev, Kind: KindNVMe})
		if err != nil || ev.Method != MethodSecureDiscard || !strings.Contains(ev.Notes[0], "nvme-cli not installed") {
			t.Fatalf("got %v\n%+v", err, ev)
		}
	})
}

// TestBlockLyingTool: a tool that reports a full zeroout and changes
// nothing is caught by the canaries.
func TestBlockLyingTool(t *testing.T) {
	const dev, size = "/dev/sdb", 4 << 20
	for _, tc := range []struct {
		name   string
		effect func(*FakeDevice)
	}{
		{"nothing", nil},
		{"half", func(d *FakeDevice) {
			d.mu.Lock()
			clear(d.data[:len(d.data)/2])
			d.mu.Unlock()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(size, 10)), steps: []step{
				{cmd: "blockdev --getsize64 " + dev, out: fmt.Sprintf("%d\n", size)},
				{cmd: "blkdiscard --zeroout --verbose " + dev, out: dev + ": Zero-filled 4194304 bytes from the offset 0\n", effect: tc.effect},
			}}
			ev, err := s.block(false).Erase(context.Background(), Disk{Path: dev, Kind: KindHDD})
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrVerify) || ve.BadSamples == 0 || ve.Checked != len(ev.SampleOffsets) {
				t.Fatalf("want a VerifyError, got %v", err)
			}
			if tc.name == "nothing" && ve.BadSamples != ve.Checked {
				t.Errorf("every sample should still hold its canary: %+v", ve)
			}
		})
	}
}

func TestBlockToolFailures(t *testing.T) {
	const dev, size = "/dev/sdb", 4 << 20
	sizeOut := fmt.Sprintf("%d\n", size)
	for _, tc := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"busy is not a fallback", []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "blkdiscard --secure --verbose " + dev, out: strings.ReplaceAll(readFixture(t, "blkdiscard_busy.txt"), "/dev/loop0", dev), err: errExit1},
		}, "Device or resource busy"},
		{"partial report", []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "blkdiscard --secure --verbose " + dev, out: dev + ": Discarded 2097152 bytes from the offset 0\n"},
		}, "covered 2097152 bytes"},
		{"no report", []step{
			{cmd: "blockdev --getsize64 " + dev, out: sizeOut},
			{cmd: "blkdiscard --secure --verbose " + dev, out: ""},
		}, "no report"},
		{"size mismatch", []step{
			{cmd: "blockdev --getsize64 " + dev, out: "1024\n"},
		}, "inventory says"},
		{"blockdev fails", []step{
			{cmd: "blockdev --getsize64 " + dev, out: "blockdev: cannot open /dev/sdb: No such file or directory\n", err: errExit1},
		}, "No such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{t: t, dev: NewFakeDevice(dev, randomBytes(size, 11)), steps: tc.steps}
			_, err := s.block(false).Erase(context.Background(), Disk{Path: dev, Kind: KindSSD, Size: size})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
			if len(s.ran) != len(tc.steps) {
				t.Errorf("ran %q", s.ran)
			}
		})
	}
}

func TestBlockRefusesBadInput(t *testing.T) {
	for _, p := range []string{"", "sda", "/tmp/disk.raw", "/dev/../etc/passwd", "/dev/sda b", "/dev/sda\n", "/dev/"} {
		s := &script{t: t}
		if _, err := s.block(false).Erase(context.Background(), Disk{Path: p, Kind: KindSSD}); err == nil || len(s.ran) != 0 {
			t.Errorf("%q: err %v, ran %q", p, err, s.ran)
		}
	}
	s := &script{t: t, dev: NewFakeDevice("x", make([]byte, 4096)), steps: []step{{cmd: "blockdev --getsize64 /dev/sdc", out: "4096\n"}}}
	if _, err := s.block(false).Erase(context.Background(), Disk{Path: "/dev/sdc", Kind: KindFile}); err == nil {
		t.Error("Block must refuse a file-kind disk")
	}
}

func TestCommandFor(t *testing.T) {
	want := map[Method]string{
		MethodNVMeFormat:    "nvme format /dev/nvme1n1 --ses=1 --force",
		MethodSecureDiscard: "blkdiscard --secure --verbose /dev/nvme1n1",
		MethodZeroOut:       "blkdiscard --zeroout --verbose /dev/nvme1n1",
	}
	for m, w := range want {
		argv, err := CommandFor(m, "/dev/nvme1n1")
		if err != nil || strings.Join(argv, " ") != w {
			t.Errorf("%s: %q %v", m, argv, err)
		}
	}
	if _, err := CommandFor(MethodOverwrite, "/dev/x"); err == nil {
		t.Error("overwrite has no command")
	}
}
