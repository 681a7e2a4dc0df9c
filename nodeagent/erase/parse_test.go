package erase

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseBlkdiscard(t *testing.T) {
	const p = "/dev/sdb"
	for _, tc := range []struct {
		name, out string
		want      DiscardReport
		ok        bool
	}{
		{"recorded", "/dev/loop0: Zero-filled 67108864 bytes from the offset 0\n", DiscardReport{0, 64 << 20, true}, true},
		{"steps", p + ": Discarded 100 bytes from the offset 0\n" + p + ": Discarded 50 bytes from the offset 100\n", DiscardReport{0, 150, false}, true},
		{"warning ignored", "blkdiscard: /dev/sdb contains existing file system (ext4).\n" + p + ": Discarded 10 bytes from the offset 0\n", DiscardReport{0, 10, false}, true},
		{"gap", p + ": Discarded 100 bytes from the offset 0\n" + p + ": Discarded 50 bytes from the offset 200\n", DiscardReport{}, false},
		{"mixed kinds", p + ": Discarded 100 bytes from the offset 0\n" + p + ": Zero-filled 50 bytes from the offset 100\n", DiscardReport{}, false},
		{"other device", "/dev/sdc: Discarded 100 bytes from the offset 0\n", DiscardReport{}, false},
		{"prefix device", "/dev/sdb1: Discarded 100 bytes from the offset 0\n", DiscardReport{}, false},
		{"garbled", p + ": Discarded lots of bytes\n", DiscardReport{}, false},
		{"trailing", p + ": Discarded 1 bytes from the offset 0 or so\n", DiscardReport{}, false},
		{"negative", p + ": Discarded -1 bytes from the offset 0\n", DiscardReport{}, false},
		{"empty", "", DiscardReport{}, false},
	} {
		path := p
		if tc.name == "recorded" {
			path = "/dev/loop0"
		}
		got, err := ParseBlkdiscard(tc.out, path)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v, %v", tc.name, got, err)
		}
	}
}

func TestBlkdiscardFailure(t *testing.T) {
	if err := blkdiscardFailure(readFixture(t, "blkdiscard_secure_eopnotsupp.txt"), errExit1); !errors.Is(err, ErrNotSupported) {
		t.Errorf("EOPNOTSUPP: %v", err)
	}
	if err := blkdiscardFailure(readFixture(t, "blkdiscard_busy.txt"), errExit1); errors.Is(err, ErrNotSupported) || err == nil {
		t.Errorf("busy: %v", err)
	}
}

func TestParseNVMe(t *testing.T) {
	c, err := ParseIDCtrl([]byte(readFixture(t, "nvme_id_ctrl.json")))
	if err != nil || !c.SupportsFormat() || !c.CryptoErase() || c.EraseAffectsAllNamespaces() || c.Model != "EXAMPLE NVMe 1TB" || c.Firmware != "1.0.0" {
		t.Errorf("id-ctrl: %+v %v", c, err)
	}
	if c, err := ParseIDCtrl([]byte(readFixture(t, "nvme_id_ctrl_noformat.json"))); err != nil || c.SupportsFormat() {
		t.Errorf("id-ctrl without format: %+v %v", c, err)
	}
	for _, bad := range []string{"", "{}", `{"oacs": "x"}`, "NVMe status: ..."} {
		if _, err := ParseIDCtrl([]byte(bad)); err == nil {
			t.Errorf("id-ctrl %q: want error", bad)
		}
	}
	if err := ParseNVMeFormat(readFixture(t, "nvme_format_success.txt"), nil); err != nil {
		t.Errorf("success: %v", err)
	}
	if err := ParseNVMeFormat("", nil); err != nil {
		t.Errorf("quiet success: %v", err)
	}
	if err := ParseNVMeFormat(readFixture(t, "nvme_format_invalid_field.txt"), errExit1); !errors.Is(err, ErrNotSupported) {
		t.Errorf("invalid field: %v", err)
	}
	if err := ParseNVMeFormat("NVMe status: Internal Error(0x6)\n", nil); err == nil || errors.Is(err, ErrNotSupported) {
		t.Errorf("status with exit 0 must fail hard: %v", err)
	}
	if err := ParseNVMeFormat("open: No such file or directory\n", errExit1); err == nil || errors.Is(err, ErrNotSupported) {
		t.Errorf("exit 1: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	if n, err := ParseSize(readFixture(t, "blockdev_getsize64_64MiB.txt")); err != nil || n != 64<<20 {
		t.Errorf("%d %v", n, err)
	}
	for _, bad := range []string{"", "0", "-5", "12 bytes", "0x10"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestDetectKind(t *testing.T) {
	root := t.TempDir()
	for name, rot := range map[string]string{"sda": "1\n", "sdb": "0\n", "sdz": "x\n"} {
		dir := filepath.Join(root, "sys/class/block", name, "queue")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "rotational"), []byte(rot), 0o644)
	}
	for dev, want := range map[string]Kind{"/dev/sda": KindHDD, "/dev/sdb": KindSSD, "/dev/nvme0n1": KindNVMe} {
		if k, err := DetectKind(root, dev); err != nil || k != want {
			t.Errorf("%s: %q %v", dev, k, err)
		}
	}
	for _, dev := range []string{"/dev/sdz", "/dev/sda1"} {
		if k, err := DetectKind(root, dev); err == nil {
			t.Errorf("%s: want error, got %q", dev, k)
		}
	}
}
