package simnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/hca"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
)

func testConfig(t *testing.T) Config {
	return Config{Root: filepath.Join(t.TempDir(), "nodes"), Servers: []string{"127.0.0.1:1"}}
}

// readPKeys reads a port's pkeys/<i> files in index order.
func readPKeys(t *testing.T, n *Node, port int) []string {
	t.Helper()
	dir := filepath.Join(n.SysfsRoot, hca.ClassDir, HCAName, "ports", strconv.Itoa(port), "pkeys")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(entries))
	for _, e := range entries {
		i, err := strconv.Atoi(e.Name())
		if err != nil || i < 0 || i >= len(entries) {
			t.Fatalf("pkeys/%s: not an index of a %d-slot table", e.Name(), len(entries))
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = strings.TrimSpace(string(b))
	}
	return out
}

// TestNodeSysfsIsTheFabricsHost: the HCA the agent's scanner finds under
// the node's sysfs root has the fabric's port GUIDs (node GUID one below,
// as ibsim numbers them), the PSID and firmware the firmware pin expects,
// active ports, and a P_Key table holding only the default partition as
// a limited member.
func TestNodeSysfsIsTheFabricsHost(t *testing.T) {
	ports := []sm.GUID{0x0002c90300000031, 0x0002c90300000032}
	n, err := NewNode(testConfig(t), Spec{Name: "node003", Ports: ports}, 4)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := hca.NewScanner(n.SysfsRoot).Inventory()
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Name != HCAName {
		t.Fatalf("devices %+v, want one %s", devs, HCAName)
	}
	d := devs[0]
	if d.NodeGUID != hca.GUID(ports[0]-1) || d.PSID() != PSID || d.FWVersion != ShippedFirmware || d.NodeDesc != "node003 HCA-1" {
		t.Fatalf("device %+v", d)
	}
	if len(d.Ports) != 2 {
		t.Fatalf("ports %+v, want 2", d.Ports)
	}
	for i, p := range d.Ports {
		if p.Number != i+1 || p.GUID != hca.GUID(ports[i]) || p.State.Code != 4 || p.LID != uint16(4+i) {
			t.Errorf("port %d: %+v (state %s), want GUID %s active with LID %d", i+1, p, p.State, ports[i], 4+i)
		}
	}
	got := readPKeys(t, n, 1)
	if len(got) != PKeyTableLen || got[0] != "0x7fff" || got[1] != "0x0000" || got[PKeyTableLen-1] != "0x0000" {
		t.Fatalf("port 1 pkeys %v, want 0x7fff then %d empty slots", got, PKeyTableLen-1)
	}
	if st, err := os.Stat(n.AgentDir); err == nil && st.Mode().Perm() != 0o700 {
		t.Errorf("agent dir mode %o", st.Mode().Perm())
	}
	for _, dir := range []string{filepath.Dir(n.Dir), n.Dir, n.JobsDir} {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o711 {
			t.Errorf("%s: mode %o, want 0711 (traversable, not listable)", dir, st.Mode().Perm())
		}
	}
}

// TestWritePKeys: a table replaces the port's slots, shorter tables empty
// the rest, a longer one (a fabric with a bigger PartitionCap) grows the
// table and a later shorter one shrinks it back to PKeyTableLen; a port
// of another node is refused. No temporary file is ever left among the
// slots.
func TestWritePKeys(t *testing.T) {
	g := sm.GUID(0x0002c90300000011)
	n, err := NewNode(testConfig(t), Spec{Name: "node001", Ports: []sm.GUID{g}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.WritePKeys(g, []uint16{0x7fff, 0x0000, 0x9001}); err != nil {
		t.Fatal(err)
	}
	got := readPKeys(t, n, 1)
	if got[0] != "0x7fff" || got[1] != "0x0000" || got[2] != "0x9001" || len(got) != PKeyTableLen {
		t.Fatalf("pkeys %v", got)
	}
	long := make([]uint16, 40)
	long[0], long[39] = 0xffff, 0x8123
	if err := n.WritePKeys(g, long); err != nil {
		t.Fatal(err)
	}
	if got := readPKeys(t, n, 1); len(got) != 40 || got[0] != "0xffff" || got[2] != "0x0000" || got[39] != "0x8123" {
		t.Fatalf("after a 40-slot table: %v", got)
	}
	if err := n.WritePKeys(g, []uint16{0x7fff}); err != nil {
		t.Fatal(err)
	}
	if got := readPKeys(t, n, 1); len(got) != PKeyTableLen || got[0] != "0x7fff" || got[2] != "0x0000" {
		t.Fatalf("after shrinking: %v", got)
	}
	if err := n.WritePKeys(g+0x10, []uint16{0x7fff}); err == nil {
		t.Fatal("a port of another node was accepted")
	}
}

// TestMemDisk: reads return what was written across chunk boundaries,
// the disk refuses writes past its end with ENOSPC, and zeros free the
// memory they cover.
func TestMemDisk(t *testing.T) {
	d := newMemDisk("disk", 3*chunkSize)
	data := bytes.Repeat([]byte("tenant data "), chunkSize/12+1)[:chunkSize] // spans two chunks
	off := int64(chunkSize - 100)
	if n, err := d.WriteAt(data, off); err != nil || n != len(data) {
		t.Fatalf("write: %d, %v", n, err)
	}
	got := make([]byte, len(data))
	if n, err := d.ReadAt(got, off); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d, %v, equal %v", n, err, bytes.Equal(got, data))
	}
	if d.used() != 2*chunkSize {
		t.Fatalf("used %d, want two chunks", d.used())
	}
	if n, err := d.WriteAt(make([]byte, 10), 3*chunkSize-4); n != 4 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the end: %d, %v, want 4 and ENOSPC", n, err)
	}
	if n, err := d.ReadAt(make([]byte, 10), 3*chunkSize-4); n != 4 || err == nil {
		t.Fatalf("read past the end: %d, %v, want 4 and EOF", n, err)
	}
	ev, err := (&erase.Overwrite{BlockSize: 4096, Open: func(string) (erase.Device, error) { return d, nil }}).Erase(context.Background(), erase.Disk{Path: "disk", Kind: erase.KindFile})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Bytes != 3*chunkSize || d.used() != 0 {
		t.Fatalf("erase wrote %d bytes and left %d in use, want all and none", ev.Bytes, d.used())
	}
}

// TestImageThenErase: the real imaging pipeline writes a catalog image to
// the node's disk and verifies it, and the node's eraser wipes it, both
// through the agent's hardware fields.
func TestImageThenErase(t *testing.T) {
	n, err := NewNode(testConfig(t), Spec{Name: "node001", Ports: []sm.GUID{0x11}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	img := bytes.Repeat([]byte("rocky "), 50000)
	path := filepath.Join(t.TempDir(), "rocky.img")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	disk, err := n.Agent.OpenDisk(n.Agent.Config.Disk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Agent.Imager.Write(context.Background(), imaging.Image{Name: "rocky", Version: "9", Size: int64(len(img)),
		SHA256: hex.EncodeToString(sum[:]), SourceURL: "file://" + path}, disk); err != nil {
		t.Fatal(err)
	}
	if n.DiskUsed() == 0 {
		t.Fatal("the image left no data on the disk")
	}
	if _, err := n.Agent.Eraser.Erase(context.Background(), erase.Disk{Path: n.Agent.Config.Disk, Kind: erase.KindFile}); err != nil {
		t.Fatal(err)
	}
	if n.DiskUsed() != 0 {
		t.Fatalf("%d bytes left after the erase", n.DiskUsed())
	}
}

// TestFirmwarePinBurnsOnceAndPersists: the pin of the simulated HCAs,
// applied by firmware.Pin with the node's flasher and store, burns the
// pinned version, and sysfs shows it after the reset; a node rebuilt from
// the same directory (a restarted simulation) still runs it, and Pin then
// finds it compliant without touching it.
func TestFirmwarePinBurnsOnceAndPersists(t *testing.T) {
	cfg := testConfig(t)
	spec := Spec{Name: "node001", Ports: []sm.GUID{0x11}}
	n, err := NewNode(cfg, spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := Pin()
	policy, err := firmware.NewPolicy(firmware.Rule{PSID: p.PSID, Version: p.Version, SHA256: p.SHA256, Image: p.File})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := firmware.Pin(context.Background(), n.Agent.Flasher, HCAName, policy, n.Agent.FirmwareStore)
	if err != nil || ev.Outcome != firmware.Burned {
		t.Fatalf("pin: %v, outcome %q, want burned", err, ev.Outcome)
	}
	devs, _ := hca.NewScanner(n.SysfsRoot).Inventory()
	if len(devs) != 1 || devs[0].FWVersion != PinnedFirmware {
		t.Fatalf("sysfs after the reset: %+v, want fw %s", devs, PinnedFirmware)
	}
	again, err := NewNode(cfg, spec, 2)
	if err != nil {
		t.Fatal(err)
	}
	if again.RunningFirmware() != PinnedFirmware {
		t.Fatalf("after a restart the HCA runs %s, want %s", again.RunningFirmware(), PinnedFirmware)
	}
	ev, err = firmware.Pin(context.Background(), again.Agent.Flasher, HCAName, policy, again.Agent.FirmwareStore)
	if err != nil || ev.Outcome != firmware.AlreadyCompliant {
		t.Fatalf("pin after restart: %v, outcome %q, want already-compliant", err, ev.Outcome)
	}
	if _, err := again.Agent.FirmwareStore.Open(context.Background(), "../../etc/passwd"); err == nil {
		t.Fatal("the store served a file it does not hold")
	}
}

func FuzzParseFirmwareState(f *testing.F) {
	f.Add([]byte(`{"Burned":"20.31.2006","Running":"20.31.1014"}`))
	f.Add([]byte(`{"Burned":"","Running":"x"}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"Burned":"20.31.2006","Running":"20.31.2006","Current":{"SRIOV_EN":"1"},"Next":{"SRIOV_EN":"1","NUM_OF_VFS":"8"}}`))
	f.Add([]byte(`{"Burned":"20.31.2006","Running":"20.31.2006","Current":{"../x":"1"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := parseFirmwareState(b)
		if !ok {
			return
		}
		if len(b) > maxStateSize || !validVersion(st.Burned) || !validVersion(st.Running) {
			t.Fatalf("accepted %q -> %+v", b, st)
		}
		for _, m := range []map[string]string{st.Current, st.Next} {
			for k, v := range m {
				if _, known := Settings[k]; !known || !validVersion(v) {
					t.Fatalf("accepted setting %q=%q", k, v)
				}
			}
		}
	})
}

// TestHandedToken: a handed token is given out as is; without one the
// node cannot enroll and says so.
func TestHandedToken(t *testing.T) {
	ctx := context.Background()
	if tok, pin, err := (Handed{Token: "t", CAPin: "sha256:x"}).JoinToken(ctx, "node001"); err != nil || tok != "t" || pin != "sha256:x" {
		t.Fatalf("%q %q %v", tok, pin, err)
	}
	if _, _, err := (Handed{}).JoinToken(ctx, "node001"); err == nil {
		t.Fatal("an empty handed token was accepted")
	}
	n, err := NewNode(testConfig(t), Spec{Name: "node001", Ports: []sm.GUID{0x11}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx, nil); err == nil || !strings.Contains(err.Error(), "join token") {
		t.Fatalf("start without enrollment: %v, want an error about the join token", err)
	}
}
