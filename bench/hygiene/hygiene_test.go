//go:build linux

// Package hygiene measures what proving a node clean costs: the leader's
// challenges on the cleaning tasks, and the hand-out check that runs right
// before every allocation of an agent node:
//
//	go test ./bench/hygiene -run '^$' -bench . -benchtime 20x   (at least 2x: the table is printed for runs of 2 or more)
//
// Each part is the code the agent or the server runs, on this machine's
// disk and /proc, composed as the agent's hand-out task composes it
// (nodeagent/agent/task_handout.go):
//
//   - image blocks: the node's image (a 256 MiB file of random bytes in
//     1 MiB blocks, the block size of images up to 4 GiB), opened read-only,
//     page cache dropped, handoutBlocks random blocks read and hashed;
//   - firmware: the sysfs inventory re-read and the flasher queried (the
//     fake one: a real `mstflint -d DEV q` adds its own time per HCA);
//   - leftovers: the job runner's check of the job cgroups and, as root,
//     a walk of /proc for processes of the job user;
//   - own P_Key tables: the sysfs tables of two ports;
//   - server: the FSM applying the answer (parse, check against the
//     challenge and the catalog's block list), and the answer's size,
//     which goes into the raft log.
//
// and, for the cleaning tasks' challenges, the extra read-back of an
// erase (66 samples of 4 KiB at the leader's offsets, on a 256 MiB file),
// the server's check of that answer, and the image task's 8 challenged
// blocks. It prints each median against the budget below. IBEX_BENCH_DIR
// picks the disk (default: the system temp dir).
package hygiene

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	"github.com/ibex-hpc/ibex/nodeagent/hca"
	"github.com/ibex-hpc/ibex/nodeagent/imaging"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// The budget: what one hand-out check and each challenge may cost, so
// that thousands of hand-outs a day cost minutes of node time in all and
// never hold a job's start noticeably.
var budget = map[string]struct {
	time  time.Duration
	bytes int64
}{
	"hand-out: image blocks":        {100 * time.Millisecond, 4 << 20},
	"hand-out: firmware readings":   {50 * time.Millisecond, 0},
	"hand-out: leftover processes":  {50 * time.Millisecond, 0},
	"hand-out: own P_Key tables":    {10 * time.Millisecond, 0},
	"hand-out: agent total":         {250 * time.Millisecond, 8 << 20},
	"hand-out: server check":        {2 * time.Millisecond, 0},
	"hand-out: answer into raft":    {0, 16 << 10},
	"erase challenge: read-back":    {100 * time.Millisecond, 264 << 10},
	"erase challenge: server check": {5 * time.Millisecond, 0},
	"erase challenge: answer":       {0, 16 << 10},
	"image challenge: 8 blocks":     {200 * time.Millisecond, 8 << 20},
}

const (
	imageSize     = 256 << 20
	handoutBlocks = 4 // control.handoutBlocks
	pin           = "20.31.2006"
	psid          = "MT_0000000223"
)

type sample struct {
	d     time.Duration
	bytes int64
}

type results map[string][]sample

func (r results) add(name string, d time.Duration, n int64) { r[name] = append(r[name], sample{d, n}) }

func (r results) print(b *testing.B) {
	if b.N < 2 {
		return // the framework's probing run; the table is the real run's
	}
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-32s %12s %12s   %-22s %s\n", "part (median of runs)", "time", "bytes", "budget", "")
	for _, n := range names {
		s := r[n]
		slices.SortFunc(s, func(a, b sample) int { return int(a.d - b.d) })
		med := s[len(s)/2]
		bud := budget[n]
		ok := (bud.time == 0 || med.d <= bud.time) && (bud.bytes == 0 || med.bytes <= bud.bytes)
		verdict := "within"
		if !ok {
			verdict = "OVER BUDGET"
		}
		fmt.Fprintf(&out, "%-32s %12s %12s   %-22s %s\n", n, med.d.Round(time.Microsecond), size(med.bytes),
			fmt.Sprintf("%s, %s", dur(bud.time), size(bud.bytes)), verdict)
	}
	fmt.Print(out.String())
}

func size(n int64) string {
	switch {
	case n == 0:
		return "-"
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}

func benchDir(b *testing.B) string {
	dir := os.Getenv("IBEX_BENCH_DIR")
	d, err := os.MkdirTemp(dir, "ibex-bench-hygiene-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// imageFile writes a random image and returns it with its catalog entry.
func imageFile(b *testing.B, dir string) (string, model.Image) {
	path := filepath.Join(dir, "disk")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	h := model.NewBlockHasher(model.ImageBlockSize(imageSize))
	buf := make([]byte, 4<<20)
	for written := 0; written < imageSize; written += len(buf) {
		rand.Read(buf)
		f.Write(buf)
		h.Write(buf)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	sum, n := h.Sum()
	return path, model.Image{Name: "rocky9", Version: "1", Size: n, SHA256: sum, SourceURL: "file:///rocky9.img", BlockSize: h.BlockSize, Blocks: h.Blocks}
}

// sysfs writes one ConnectX adapter with two active ports holding only
// the limited default partition.
func sysfs(b *testing.B, dir string) string {
	root := filepath.Join(dir, "sysfs")
	dev := filepath.Join(root, "sys/class/infiniband/mlx5_0")
	files := map[string]string{"board_id": psid, "fw_ver": pin, "hca_type": "MT4123", "node_guid": "0c42:a103:0016:054c", "node_type": "1: CA"}
	for _, p := range []string{"1", "2"} {
		files["ports/"+p+"/state"] = "4: ACTIVE"
		files["ports/"+p+"/link_layer"] = "InfiniBand"
		files["ports/"+p+"/gids/0"] = "fe80:0000:0000:0000:0c42:a103:0016:054" + p
		files["ports/"+p+"/pkeys/0"] = "0x7fff"
		files["ports/"+p+"/pkeys/1"] = "0x0000"
	}
	for f, c := range files {
		p := filepath.Join(dev, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c+"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

// runner is a job runner as ibex-agent makes it: with cgroups and a swept
// job user when this runs as root, a plain one otherwise.
func runner(b *testing.B, dir string) *localexec.Runner {
	root := filepath.Join(dir, "jobs")
	if os.Geteuid() == 0 {
		if mnt, err := localexec.Cgroup2Mount(); err == nil {
			cg := filepath.Join(mnt, fmt.Sprintf("ibex-bench-%d", os.Getpid()))
			if err := os.Mkdir(cg, 0o755); err == nil {
				b.Cleanup(func() { os.Remove(cg) })
				os.Chmod(dir, 0o755)
				os.Chmod(filepath.Dir(dir), 0o755)
				u := &localexec.JobUser{Name: "ibex-bench", UID: 1_700_000_123, GID: 1_700_000_123}
				if r, err := localexec.NewWithOptions(root, localexec.Options{CgroupDir: cg, User: u, SweepUser: true}); err == nil {
					r.Allocate(1, "n1") // the runner's epoch: the /proc walk is on
					return r
				} else {
					b.Logf("runner with cgroups: %v; measuring a plain one", err)
				}
			}
		}
	}
	r, err := localexec.New(root)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func nonce() string {
	var n [model.ChallengeNonceBytes]byte
	rand.Read(n[:])
	return model.NewNonce(n)
}

func pick(n, k int) []int {
	p := mrand.Perm(n)
	return p[:k]
}

// BenchmarkHandoutCheck is one hand-out check per iteration.
func BenchmarkHandoutCheck(b *testing.B) {
	dir := benchDir(b)
	disk, img := imageFile(b, dir)
	root := sysfs(b, dir)
	flasher := firmware.NewFake()
	flasher.AddDevice("mlx5_0", firmware.FakeDevice{PSID: psid, Burned: pin, Running: pin})
	jobs := runner(b, dir)
	scanner := hca.NewScanner(root)
	scanner.NoCounters = true

	f := fsm.New()
	t0 := time.Now()
	for _, c := range []fsm.Command{
		&fsm.RegisterNodes{Nodes: []fsm.NodeSpec{{Name: "node001", Leaf: "leaf01"}}, Time: t0},
		&fsm.AddImage{Image: img},
		&fsm.CreateJoinToken{Node: "node001", Hash: "h", Expires: t0.Add(time.Hour)},
		&fsm.Enroll{Node: "node001", TokenHash: "h", CertSerial: "1", Time: t0},
	} {
		if r := f.Apply(c); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	for _, k := range []model.TaskKind{model.TaskErase, model.TaskFirmware, model.TaskImage} {
		f.Apply(&fsm.StartTask{Node: "node001", Task: model.NodeTask{ID: string(k), Kind: k, Image: img.Ref()}})
		f.Apply(&fsm.TaskDone{Node: "node001", TaskID: string(k), OK: true, Evidence: "{}"})
	}
	if r := f.Apply(&fsm.NodeCleaned{Node: "node001", Image: img.Ref(), Evidence: "x", Time: t0}); r.Err != nil {
		b.Fatal(r.Err)
	}

	res := results{}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		ch := model.Challenge{Nonce: nonce(), Image: img.Ref(), Blocks: pick(len(img.Blocks), handoutBlocks), Pins: map[string]string{psid: pin}, PKeys: true}
		a := model.Answer{Nonce: ch.Nonce}
		start := time.Now()

		s := time.Now()
		d, err := imaging.OpenDiskReadOnly(disk)
		if err != nil {
			b.Fatal(err)
		}
		blocks, n, err := imaging.ReadBlocks(ctx, d, img, ch.Blocks)
		d.Close()
		if err != nil {
			b.Fatal(err)
		}
		a.Image = &model.ImageAnswer{Image: img.Ref(), BlockSize: img.BlockSize, Blocks: blocks}
		res.add("hand-out: image blocks", time.Since(s), n)

		s = time.Now()
		devs, _ := scanner.Inventory()
		q, err := flasher.Query(ctx, "mlx5_0")
		if err != nil {
			b.Fatal(err)
		}
		a.Firmware = &model.FirmwareAnswer{Devices: []model.FirmwareDevice{{Device: "mlx5_0", PSID: q.PSID, Readings: []model.FirmwareReading{
			{Source: model.ReadingFlash, Version: q.FWVersion}, {Source: model.ReadingRunning, Version: q.Running()}, {Source: model.ReadingSysfs, Version: devs[0].FWVersion}}}}}
		res.add("hand-out: firmware readings", time.Since(s), 0)

		s = time.Now()
		l, err := jobs.Leftovers()
		if err != nil {
			b.Fatal(err)
		}
		a.Procs = &model.ProcAnswer{Checked: l.Checked, Leftover: l.UserProcs}
		res.add("hand-out: leftover processes", time.Since(s), 0)

		s = time.Now()
		tables, err := scanner.PKeyTables()
		if err != nil {
			b.Fatal(err)
		}
		a.PKeys = &model.PKeyAnswer{}
		for _, t := range tables {
			a.PKeys.Ports = append(a.PKeys.Ports, model.PortKeys{Port: t.Port, Keys: t.Keys})
		}
		res.add("hand-out: own P_Key tables", time.Since(s), 0)
		res.add("hand-out: agent total", time.Since(start), n)

		answer, _ := json.Marshal(a)
		id := fmt.Sprintf("handout/node001/%d", i)
		now := t0.Add(time.Duration(i+1) * time.Minute)
		if r := f.Apply(&fsm.StartHandoutCheck{Node: "node001", Check: model.Handout{ID: id, Challenge: &ch, Started: now}}); r.Err != nil {
			b.Fatal(r.Err)
		}
		cmd := &fsm.HandoutChecked{Node: "node001", ID: id, OK: true, Answer: string(answer), Time: now}
		wire, _ := fsm.Encode(cmd)
		s = time.Now()
		if r := f.Apply(cmd); r.Err != nil {
			b.Fatal(r.Err)
		}
		res.add("hand-out: server check", time.Since(s), 0)
		res.add("hand-out: answer into raft", 0, int64(len(wire)))
		if n := f.View().Nodes["node001"]; n.Handout == nil || n.Handout.Passed.IsZero() {
			l := f.View().Ledger["node001"]
			b.Fatalf("the check did not pass: %s", l[len(l)-1].Evidence)
		}
	}
	b.StopTimer()
	res.print(b)
}

// BenchmarkChallenges measures the challenges of the cleaning tasks.
func BenchmarkChallenges(b *testing.B) {
	dir := benchDir(b)
	disk, img := imageFile(b, dir)
	ctx := context.Background()
	open := func(p string) (erase.Device, error) { return erase.OpenDevice(p) }
	res := results{}
	b.ResetTimer()
	for range b.N {
		ch := model.Challenge{Nonce: nonce(), SampleSize: 4096}
		for range 64 {
			ch.Draws = append(ch.Draws, mrand.Uint64())
		}
		// The read-back of the challenge alone: an erase with and without
		// it differ in their verification by exactly that.
		o := &erase.Overwrite{Open: open, Seed: 1}
		plain, err := o.Erase(ctx, erase.Disk{Path: disk, Kind: erase.KindFile})
		if err != nil {
			b.Fatal(err)
		}
		challenged, err := o.Erase(ctx, erase.Disk{Path: disk, Kind: erase.KindFile,
			Challenge: &erase.Challenge{Nonce: ch.Nonce, Draws: ch.Draws, SampleSize: ch.SampleSize}})
		if err != nil {
			b.Fatal(err)
		}
		extra := int64(len(challenged.Answer.Samples) * challenged.Answer.SampleSize)
		res.add("erase challenge: read-back", max(0, challenged.VerifyDuration-plain.VerifyDuration), extra)
		answer, _ := json.Marshal(model.Answer{Nonce: ch.Nonce, Erase: challenged.Answer})
		res.add("erase challenge: answer", 0, int64(len(answer)))
		s := time.Now()
		a, err := model.ParseAnswer(answer)
		if err == nil {
			_, err = model.CheckErase(ch, a, 0)
		}
		if err != nil {
			b.Fatal(err)
		}
		res.add("erase challenge: server check", time.Since(s), 0)

		// The erase zeroed the file; the image task writes it back.
		rewrite(b, disk, img)
		s = time.Now()
		d, err := imaging.OpenDiskReadOnly(disk)
		if err != nil {
			b.Fatal(err)
		}
		_, n, err := imaging.ReadBlocks(ctx, d, img, pick(len(img.Blocks), 8))
		d.Close()
		if err != nil {
			b.Fatal(err)
		}
		res.add("image challenge: 8 blocks", time.Since(s), n)
	}
	b.StopTimer()
	res.print(b)
}

// rewrite puts random bytes back (the blocks' content does not matter to
// the read cost; their hashes are not checked here).
func rewrite(b *testing.B, path string, img model.Image) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0x5a}, 4<<20)
	for off := int64(0); off < img.Size; off += int64(len(buf)) {
		f.WriteAt(buf, off)
	}
	f.Sync()
}
