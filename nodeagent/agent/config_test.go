package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Node: "node001", Servers: []string{"10.0.0.1:7703"}, DataDir: "/var/lib/ibex-agent", Disk: "/dev/nvme0n1"}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ServerName != "ibexd" || c.ProgressInterval != 250*time.Millisecond || c.GossipBind != DefaultGossipBind {
		t.Fatalf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Node = "" }, "node name"},
		{func(c *Config) { c.Node = "-node" }, "start with"},
		{func(c *Config) { c.Node = "node/1" }, "not allowed"},
		{func(c *Config) { c.Servers = nil }, "no server"},
		{func(c *Config) { c.Servers = []string{"ibexd"} }, "host:port"},
		{func(c *Config) { c.DataDir = "" }, "DataDir"},
		{func(c *Config) { c.Disk = "" }, "Disk"},
		{func(c *Config) { c.JoinToken = "tok" }, "CA pin or a CA file"},
		{func(c *Config) { c.CAPin = "sha256:00" }, "CA pin"},
		{func(c *Config) { c.DiskKind = "floppy" }, "disk kind"},
		{func(c *Config) { c.GossipBind = "nope" }, "gossip bind"},
		{func(c *Config) { c.BackoffMax = time.Millisecond }, "BackoffMax"},
		{func(c *Config) { c.GossipProbeTimeout = 2 * time.Second }, "GossipProbeTimeout"},
	} {
		bad := c
		tc.mut(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error about %q", err, tc.want)
		}
	}
	c.NoGossip, c.GossipBind = true, "ignored when off"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStartChecksHardwareInterfaces(t *testing.T) {
	a := &Agent{Config: Config{Node: "n1", Servers: []string{"127.0.0.1:1"}, DataDir: t.TempDir(), Disk: "/dev/null"}}
	err := a.Start(t.Context())
	for _, want := range []string{"no Eraser", "no firmware Flasher", "no FirmwareStore"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Start = %v, want %q", err, want)
		}
	}
}

func TestJournalSurvivesReopenAndPrunesDoneEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), journalFile)
	j, warn := openJournal(path, 0)
	if warn != nil {
		t.Fatal(warn)
	}
	const limit = 8
	j.max = limit
	if err := j.start("keep", model.TaskImage); err != nil {
		t.Fatal(err)
	}
	for i := range limit + 10 {
		id := fmt.Sprint("t", i)
		if err := j.start(id, model.TaskErase); err != nil {
			t.Fatal(err)
		}
		if err := j.finish(id, &savedResult{OK: true, EvidenceJSON: `{"n":1}`}); err != nil {
			t.Fatal(err)
		}
	}
	j, warn = openJournal(path, limit)
	if warn != nil {
		t.Fatal(warn)
	}
	if len(j.entries) != limit {
		t.Fatalf("%d entries, want %d", len(j.entries), limit)
	}
	if e, ok := j.get("keep"); !ok || e.State != stateStarted {
		t.Fatalf("the unfinished entry was pruned: %+v", e)
	}
	if e, ok := j.get(fmt.Sprint("t", limit+9)); !ok || e.State != stateDone || e.Result.EvidenceJSON != `{"n":1}` {
		t.Fatalf("latest entry: %+v", e)
	}
	if _, ok := j.get("t0"); ok {
		t.Fatal("oldest done entry kept")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("journal mode %v", fi.Mode())
	}

	// A foreign file is moved aside, not fatal.
	os.WriteFile(path, []byte("{not json\n{nor this}\n"), 0o600)
	j, warn = openJournal(path, 0)
	if warn == nil || !strings.Contains(warn.Error(), "moved to") || len(j.entries) != 0 {
		t.Fatalf("corrupt journal: warn %v, %d entries", warn, len(j.entries))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the unreadable journal is still in place: %v", err)
	}
}

func TestBackoffGrowsWithJitterAndResets(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	prevMax := time.Duration(0)
	for i := range 8 {
		d := b.next()
		ceil := min(100*time.Millisecond<<i, time.Second)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, ceil/2, ceil)
		}
		prevMax = ceil
	}
	if prevMax != time.Second {
		t.Fatal("never reached the cap")
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}

func TestDiskKind(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "disk.img")
	os.WriteFile(f, nil, 0o600)
	root := filepath.Join(dir, "root")
	for dev, rot := range map[string]string{"sda": "1", "sdb": "0"} {
		p := filepath.Join(root, "sys/class/block", dev, "queue")
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "rotational"), []byte(rot+"\n"), 0o644)
	}
	for path, want := range map[string]string{f: "file", "/dev/nvme0n1": "nvme", "/dev/sda": "hdd", "/dev/sdb": "ssd"} {
		if got, err := diskKind(path, root); err != nil || string(got) != want {
			t.Errorf("diskKind(%s) = %s, %v; want %s", path, got, err, want)
		}
	}
	if _, err := diskKind("/dev/sda1", root); err == nil {
		t.Error("a partition (no queue/rotational) was classified")
	}
}
