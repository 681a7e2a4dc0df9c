package cluster

// Crash and recovery tests that every log store offered by Config.LogStore
// must pass, run through the raft.LogStore and raft.StableStore interfaces
// on the files openStore creates, so they compare the stores like for like:
//
//   - TestStoreTornLastBatch: a crash image of every point inside the write
//     of the last batch (its bytes reached the disk in write order up to the
//     cut; the rest is the old bytes, zeros or junk). Reopening must give
//     the log before the batch plus any prefix of it, and continue.
//   - TestStoreCrashAtSegmentRoll: a crash right after each batch is durable
//     in its data file, before any other file (metadata, the next segment)
//     changes, over several segment rolls.
//   - TestStoreKillDashNine: a child process appends, compacts and truncates
//     with small segments until it is killed with SIGKILL at a random point;
//     every acknowledged write must survive, compacted entries must stay
//     gone, and the store must take writes again. Several rounds on one dir.
//   - TestStoreBitFlip: damage no crash can cause, in an acknowledged entry.
//     Stores that claim to detect it must; the others are logged.
//   - TestStoreSecondOpen: a second opener never shares a live store.
//
// raft_test.go runs real hashicorp/raft on each store.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// storeCase is one log store and what the tests need to know about it.
type storeCase struct {
	name string
	// writeOrder ranks a changed byte of a file in the order the store
	// writes and syncs it during one StoreLogs: bytes of a lower rank are
	// on disk before any byte of a higher rank. nil means one phase, in
	// file order (an append).
	writeOrder func(file string, off int) int
	// detectsBitRot: the store checksums entries and refuses to return (or
	// start on) damaged acknowledged data in a sealed segment.
	detectsBitRot bool
	// known lists checks the store is known to fail, by name, with why.
	// The test then expects the failure and logs it, and fails when it is
	// gone, so the entry is dropped on an upgrade.
	known map[string]string
}

// Names of checks in storeCase.known.
const (
	sealWedge       = "seal-wedge"
	readsBelowFirst = "reads-below-first"
)

// expect fails t if err is set, unless the store is known to fail check,
// in which case it fails t if err is not set.
func expect(t *testing.T, sc storeCase, check string, err error) {
	t.Helper()
	why, known := sc.known[check]
	switch {
	case known && err == nil:
		t.Fatalf("%s: known failure %q did not happen (%s): remove it from storeCases", sc.name, check, why)
	case known:
		t.Logf("%s: known failure %q (%s): %v", sc.name, check, why, err)
	case err != nil:
		t.Fatal(err)
	}
}

var storeCases = []storeCase{
	{name: "wal", detectsBitRot: true},
	{name: "raftwal", known: map[string]string{
		sealWedge: "raft-wal v0.4.1 Open takes a tail segment that Append already sealed (index frame written, rotation " +
			"not yet committed to wal-meta.db) as the tail and never rotates it: every later StoreLogs fails with \"segment is sealed\"",
		readsBelowFirst: "raft-wal v0.4.1 GetLog still returns entries of the tail segment below FirstIndex after a prefix " +
			"DeleteRange (the tail writer keeps its old MinIndex), so raft sends them instead of a snapshot",
	}},
	// bbolt writes the dirty data pages, fdatasyncs, then writes the meta
	// page (page 0 or 1, 4 KiB each here) and fdatasyncs again.
	{name: "bolt", writeOrder: func(file string, off int) int {
		if off < 2*os.Getpagesize() {
			return 1
		}
		return 0
	}},
}

func forEachStore(t *testing.T, f func(t *testing.T, sc storeCase)) {
	for _, sc := range storeCases {
		t.Run(sc.name, func(t *testing.T) { f(t, sc) })
	}
}

// testSegmentSize makes the WAL stores cross segments with little data.
const testSegmentSize = 16 << 10

func storeConfig(name, dir string, segmentSize int64) Config {
	cfg := Config{NodeID: "t", DataDir: dir, LogStore: name, segmentSize: segmentSize, Logger: hclog.NewNullLogger()}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg
}

func openStoreT(t testing.TB, name, dir string, segmentSize int64) logStore {
	t.Helper()
	s, err := openStore(storeConfig(name, dir, segmentSize))
	if err != nil {
		t.Fatalf("open %s store in %s: %v", name, dir, err)
	}
	return s
}

// entry is the deterministic content of index i, so any read can be
// checked without remembering what was written.
func entry(i uint64) *raft.Log {
	l := &raft.Log{Index: i, Term: 1 + i/1000, Type: raft.LogType(i % 6),
		Data:       fmt.Appendf(nil, "data-%08d-%s", i, bytes.Repeat([]byte{'x'}, int(i%40))),
		AppendedAt: time.Unix(1_700_000_000+int64(i), int64(i)),
	}
	if i%3 == 0 {
		l.Extensions = fmt.Appendf(nil, "ext-%d", i)
	}
	return l
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

func entries(from, to uint64) []*raft.Log {
	var ls []*raft.Log
	for i := from; i <= to; i++ {
		ls = append(ls, entry(i))
	}
	return ls
}

// appendRange stores from..to in batches of batch entries.
func appendRange(t testing.TB, s raft.LogStore, from, to uint64, batch int) {
	t.Helper()
	ls := entries(from, to)
	for len(ls) > 0 {
		n := min(batch, len(ls))
		if err := s.StoreLogs(ls[:n]); err != nil {
			t.Fatalf("StoreLogs(%d..%d): %v", ls[0].Index, ls[n-1].Index, err)
		}
		ls = ls[n:]
	}
}

// logRange returns the store's range after checking that every entry in
// it reads back exactly and nothing just outside it does.
func logRange(s raft.LogStore) (first, last uint64, err error) {
	if first, err = s.FirstIndex(); err != nil {
		return 0, 0, err
	}
	if last, err = s.LastIndex(); err != nil {
		return 0, 0, err
	}
	if last == 0 {
		return first, last, nil
	}
	for i := first; i <= last; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			return first, last, fmt.Errorf("GetLog(%d) in [%d, %d]: %w", i, first, last, err)
		}
		if want := entry(i); !sameLog(&got, want) {
			return first, last, fmt.Errorf("GetLog(%d) = %+v, want %+v", i, got, *want)
		}
	}
	for _, i := range []uint64{first - 1, last + 1} {
		var got raft.Log
		if i == 0 {
			continue
		}
		if err := s.GetLog(i, &got); !errors.Is(err, raft.ErrLogNotFound) {
			return first, last, fmt.Errorf("GetLog(%d) outside [%d, %d]: %v, want ErrLogNotFound", i, first, last, err)
		}
	}
	return first, last, nil
}

func checkRange(t testing.TB, s raft.LogStore, first, last uint64) {
	t.Helper()
	f, l, err := logRange(s)
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("log holds [%d, %d], want [%d, %d]", f, l, first, last)
	}
}

// readTree returns every regular file under dir by relative path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func writeTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for rel, b := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tornImage is file as a crash during its rewrite from pre to post leaves
// it: the first k changed bytes (in order) have reached the disk. fill says
// what the others hold: "old" (their old contents; a file that grew ends
// after the last byte written), "zeros" (the size reached the disk, the
// data did not) or "junk" (sectors torn mid-write).
func tornImage(pre, post []byte, order []int, k int, fill string) []byte {
	size := len(pre)
	if fill != "old" {
		size = max(size, len(post))
	}
	for _, p := range order[:k] {
		size = max(size, p+1)
	}
	img := make([]byte, size)
	copy(img, pre)
	for _, p := range order[k:] {
		if p >= size {
			continue
		}
		switch fill {
		case "zeros":
			img[p] = 0
		case "junk":
			img[p] = 0xa5
		}
	}
	for _, p := range order[:k] {
		img[p] = post[p]
	}
	return img[:size]
}

// cutPoints picks where to cut n ordered bytes: every byte when n is small,
// else the first and last 64, both sides of every boundary between
// non-adjacent bytes or write phases, and a stride in between.
func cutPoints(order []int, rank func(int) int) []int {
	n := len(order)
	if n <= 300 {
		cuts := make([]int, n+1)
		for i := range cuts {
			cuts[i] = i
		}
		return cuts
	}
	set := map[int]bool{}
	for i := 0; i <= n; i++ {
		if i < 64 || i > n-64 || i%(n/64) == 0 {
			set[i] = true
		}
		if i > 0 && i < n && (order[i] != order[i-1]+1 || rank(order[i]) != rank(order[i-1])) {
			set[i-1], set[i], set[i+1] = true, true, true
		}
	}
	var cuts []int
	for i := range set {
		cuts = append(cuts, i)
	}
	slices.Sort(cuts)
	return cuts
}

// TestStoreTornLastBatch crashes inside the write of one StoreLogs batch at
// every point (or, for large diffs, at many points) and checks that the
// store reopens with the log before the batch plus any prefix of the batch
// (it was never acknowledged, so any is right), keeps the stable keys, and
// takes the next batch. A store that loses acknowledged entries, returns a
// half-written entry or refuses to start fails.
func TestStoreTornLastBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := t.TempDir()
		s := openStoreT(t, sc.name, dir, 1<<20)
		appendRange(t, s, 1, 59, 3)
		if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
			t.Fatal(err)
		}
		pre := readTree(t, dir) // kill -9 image: what the files hold now
		if err := s.StoreLogs(entries(60, 62)); err != nil {
			t.Fatal(err)
		}
		post := readTree(t, dir)
		s.Close()

		var changed []string
		for name, b := range post {
			if !bytes.Equal(pre[name], b) {
				changed = append(changed, name)
			}
		}
		if len(changed) != 1 {
			t.Fatalf("one StoreLogs changed %d files %v; this test models one", len(changed), changed)
		}
		file := changed[0]
		rank := func(off int) int {
			if sc.writeOrder == nil {
				return 0
			}
			return sc.writeOrder(file, off)
		}
		a, b := pre[file], post[file]
		var order []int
		for p := 0; p < max(len(a), len(b)); p++ {
			if p >= len(a) || p >= len(b) || a[p] != b[p] {
				order = append(order, p)
			}
		}
		slices.SortStableFunc(order, func(x, y int) int { return rank(x) - rank(y) })
		cuts := cutPoints(order, rank)
		t.Logf("%s: the batch changed %d bytes of %s (%d -> %d bytes); %d cut points", sc.name, len(order), file, len(a), len(b), len(cuts))

		outcomes := map[uint64]int{}
		for _, fill := range []string{"old", "zeros", "junk"} {
			for _, k := range cuts {
				img := t.TempDir()
				writeTree(t, img, pre)
				if err := os.WriteFile(filepath.Join(img, file), tornImage(a, b, order, k, fill), 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := openStore(storeConfig(sc.name, img, 1<<20))
				if err != nil {
					t.Fatalf("fill %s, %d of %d bytes written: reopen failed: %v", fill, k, len(order), err)
				}
				first, last, err := logRange(s)
				// Raft needs every acknowledged entry and a contiguous log;
				// any prefix of an unacknowledged batch may survive.
				if err != nil || first != 1 || last < 59 || last > 62 {
					s.Close()
					t.Fatalf("fill %s, %d of %d bytes written: log [%d, %d] (want [1, 59..62]): %v", fill, k, len(order), first, last, err)
				}
				if k == len(order) && last != 62 {
					t.Fatalf("fill %s: the whole batch reached the disk but the store recovered [1, %d]", fill, last)
				}
				outcomes[last]++
				if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 7 {
					t.Fatalf("fill %s, cut %d: CurrentTerm = %d, %v", fill, k, v, err)
				}
				appendRange(t, s, last+1, 70, 4)
				s.Close()
				if k%8 == 0 || k == len(order) {
					s = openStoreT(t, sc.name, img, 1<<20)
					checkRange(t, s, 1, 70)
					s.Close()
				}
				os.RemoveAll(img)
			}
		}
		t.Logf("%s: recovered [1, 59] %d times, [1, 60] %d, [1, 61] %d, [1, 62] %d", sc.name, outcomes[59], outcomes[60], outcomes[61], outcomes[62])
	})
}

// The child side of TestStoreKillDashNine: IBEX_STORE_CRASH_CHILD=name:dir
// makes this test binary append to that store until it is killed, telling
// the parent on stdout what is durable.
func init() {
	spec := os.Getenv("IBEX_STORE_CRASH_CHILD")
	if spec == "" {
		return
	}
	name, dir, _ := strings.Cut(spec, ":")
	os.Exit(crashChild(name, dir))
}

func crashChild(name, dir string) int {
	fail := func(err error) int { fmt.Printf("error %v\n", err); return 1 }
	s, err := openStore(storeConfig(name, dir, testSegmentSize))
	if err != nil {
		return fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	last, err := s.LastIndex()
	if err != nil {
		return fail(err)
	}
	term, _ := s.GetUint64([]byte("CurrentTerm"))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for n := 0; ; n++ {
		switch {
		case n%40 == 39 && last > 300:
			// Compaction after a snapshot: keep the last 100.
			first, _ := s.FirstIndex()
			upTo := last - 100
			say("compact-start %d", upTo+1)
			if err := s.DeleteRange(first, upTo); err != nil {
				return fail(err)
			}
			say("compact %d", upTo+1)
		case n%25 == 24 && last > 20:
			// A follower dropping a conflicting suffix. The entries put
			// back are the same, so the parent's check stays simple.
			keep := last - uint64(1+rng.IntN(10))
			say("trunc-start %d", keep)
			if err := s.DeleteRange(keep+1, last); err != nil {
				return fail(err)
			}
			last = keep
			say("trunc %d", keep)
		case n%10 == 9:
			term++
			if err := s.SetUint64([]byte("CurrentTerm"), term); err != nil {
				return fail(err)
			}
			say("term %d", term)
		default:
			to := last + uint64(1+rng.IntN(20))
			if err := s.StoreLogs(entries(last+1, to)); err != nil {
				return fail(err)
			}
			last = to
			say("ack %d", last)
		}
	}
}

// TestStoreKillDashNine kills a process using the store at random points
// (mid-append, mid-rotation, mid-compaction) and checks what survives.
func TestStoreKillDashNine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := t.TempDir()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
		var lastAck, floor, term uint64 // what the store promised so far
		for round := 0; round < 8; round++ {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), "IBEX_STORE_CRASH_CHILD="+sc.name+":"+dir)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killAfter := 50 + rng.IntN(400) // acknowledged appends
			lines := bufio.NewScanner(stdout)
			acks, killed := 0, false
			for lines.Scan() {
				verb, arg, _ := strings.Cut(lines.Text(), " ")
				v, _ := strconv.ParseUint(arg, 10, 64)
				switch verb {
				case "ack":
					lastAck = v
					acks++
				case "trunc-start":
					// Until acknowledged, either outcome may survive.
					lastAck = min(lastAck, v)
				case "compact":
					floor = v
				case "term":
					term = v
				case "error":
					cmd.Process.Kill()
					cmd.Wait()
					if sc.known[sealWedge] != "" && strings.Contains(arg, "sealed") {
						t.Logf("round %d: the store takes no more writes (known: %s): %s", round, sc.known[sealWedge], arg)
						return
					}
					t.Fatalf("round %d: child: %s", round, arg)
				}
				if acks == killAfter && !killed {
					cmd.Process.Kill()
					killed = true
				}
			}
			cmd.Wait()
			if !killed {
				t.Fatalf("round %d: child exited by itself", round)
			}

			s := openStoreT(t, sc.name, dir, testSegmentSize)
			first, last, err := logRange(s)
			if err != nil {
				t.Fatalf("round %d after kill -9: %v", round, err)
			}
			if last < lastAck {
				t.Fatalf("round %d: log ends at %d, but %d was acknowledged", round, last, lastAck)
			}
			if first > lastAck || first < floor {
				t.Fatalf("round %d: log starts at %d; want acknowledged compaction to %d kept and entries up to %d present", round, first, floor, lastAck)
			}
			if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v < term {
				t.Fatalf("round %d: CurrentTerm %d, %v; %d was acknowledged", round, v, err, term)
			}
			t.Logf("round %d: killed after %d appends; log [%d, %d], acknowledged up to %d, compacted below %d", round, acks, first, last, lastAck, floor)
			// Continue from whatever survived, as raft would.
			if err := s.StoreLogs(entries(last+1, last+5)); err != nil {
				s.Close()
				if sc.known[sealWedge] != "" && strings.Contains(err.Error(), "sealed") {
					t.Logf("round %d: the store takes no more writes (known: %s): %v", round, sc.known[sealWedge], err)
					return
				}
				t.Fatalf("round %d: append after recovery: %v", round, err)
			}
			lastAck = last + 5
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s := openStoreT(t, sc.name, dir, testSegmentSize)
		defer s.Close()
		if _, last, err := logRange(s); err != nil || last != lastAck {
			t.Fatalf("after the last round: log ends at %d (want %d): %v", last, lastAck, err)
		}
	})
}

// TestStoreCrashAtSegmentRoll appends 10-entry batches over several
// segment rolls and, after each, reopens a crash image holding the files
// that now hold the batch's entries as they are and every other file as it
// was before the batch: the state of a kill -9 (or power cut) right after
// the data was synced and before the store touched its metadata or made the
// next segment. The log must hold every acknowledged entry and take the
// next batch.
func TestStoreCrashAtSegmentRoll(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := t.TempDir()
		s := openStoreT(t, sc.name, dir, testSegmentSize)
		defer s.Close()
		var failures []string
		for next := uint64(1); next < 1200; next += 10 {
			pre := readTree(t, dir)
			if err := s.StoreLogs(entries(next, next+9)); err != nil {
				t.Fatal(err)
			}
			img := t.TempDir()
			writeTree(t, img, pre)
			post := readTree(t, dir)
			for name := range findAll(t, dir, entry(next+9).Data) {
				rel, _ := filepath.Rel(dir, name)
				if err := os.WriteFile(filepath.Join(img, rel), post[rel], 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := crashImageOK(sc.name, img, next+9); err != nil {
				failures = append(failures, fmt.Sprintf("crash after batch %d..%d: %v", next, next+9, err))
			}
			os.RemoveAll(img)
		}
		var err error
		if len(failures) > 0 {
			err = fmt.Errorf("%d of 120 crash images fail; first: %s", len(failures), failures[0])
		}
		expect(t, sc, sealWedge, err)
	})
}

// crashImageOK opens the store in dir, which must hold [1, acked], and
// appends the next entry.
func crashImageOK(name, dir string, acked uint64) error {
	s, err := openStore(storeConfig(name, dir, testSegmentSize))
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer s.Close()
	first, last, err := logRange(s)
	if err != nil {
		return err
	}
	if first != 1 || last != acked {
		return fmt.Errorf("log [%d, %d], want [1, %d]", first, last, acked)
	}
	if err := s.StoreLogs(entries(acked+1, acked+1)); err != nil {
		return fmt.Errorf("append after recovery: %w", err)
	}
	return nil
}

// TestStoreDeleteRange: what raft deletes stays deleted, live and after a
// reopen: a prefix after a snapshot (inside the newest segment as well as
// whole segments), a suffix on a conflict, then appends after both.
func TestStoreDeleteRange(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := t.TempDir()
		s := openStoreT(t, sc.name, dir, testSegmentSize)
		defer func() { s.Close() }()
		appendRange(t, s, 1, 600, 10)
		if err := s.DeleteRange(1, 100); err != nil {
			t.Fatal(err)
		}
		checkRange(t, s, 101, 600)
		// Within the newest segment (16 KiB hold about 200 entries).
		if err := s.DeleteRange(101, 580); err != nil {
			t.Fatal(err)
		}
		_, _, err := logRange(s)
		expect(t, sc, readsBelowFirst, err)
		if err := s.DeleteRange(591, 600); err != nil {
			t.Fatal(err)
		}
		appendRange(t, s, 591, 620, 7)
		checkRange(t, s, 581, 620)
		s.Close()
		s = openStoreT(t, sc.name, dir, testSegmentSize)
		checkRange(t, s, 581, 620)
		// Everything, as raft does after installing a snapshot, then a
		// log that starts far below the old one's end.
		if err := s.DeleteRange(581, 620); err != nil {
			t.Fatal(err)
		}
		checkRange(t, s, 0, 0)
		appendRange(t, s, 300, 310, 5)
		checkRange(t, s, 300, 310)
		s.Close()
		s = openStoreT(t, sc.name, dir, testSegmentSize)
		checkRange(t, s, 300, 310)
	})
}

// findAll returns where needle is stored under dir, by file.
func findAll(t *testing.T, dir string, needle []byte) map[string][]int {
	t.Helper()
	found := map[string][]int{}
	for rel, b := range readTree(t, dir) {
		for off := 0; ; off++ {
			i := bytes.Index(b[off:], needle)
			if i < 0 {
				break
			}
			off += i
			found[filepath.Join(dir, rel)] = append(found[filepath.Join(dir, rel)], off)
		}
	}
	if len(found) == 0 {
		t.Fatalf("%q is not stored verbatim", needle)
	}
	return found
}

// TestStoreBitFlip damages one byte of an acknowledged, long-committed entry
// (bit rot, a bad sector: nothing a crash does) and looks at what the store
// does with it: refuse to start, fail the read, or hand the damaged entry to
// raft. A store with detectsBitRot must do one of the first two for an
// entry in a sealed segment; the rest is logged for comparison.
func TestStoreBitFlip(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		for _, victim := range []uint64{17, 385} { // in a sealed segment; in the newest one, before its last batch
			t.Run(fmt.Sprint(victim), func(t *testing.T) {
				dir := t.TempDir()
				s := openStoreT(t, sc.name, dir, testSegmentSize)
				appendRange(t, s, 1, 400, 10)
				s.Close()
				// Damage every copy (bolt's copy-on-write pages may hold
				// stale ones): "data-000000x7" becomes another digit.
				for file, offs := range findAll(t, dir, entry(victim).Data) {
					t.Logf("entry %d is at bytes %v of %s", victim, offs, filepath.Base(file))
					b, err := os.ReadFile(file)
					if err != nil {
						t.Fatal(err)
					}
					for _, off := range offs {
						b[off+7] ^= 0x04
					}
					if err := os.WriteFile(file, b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				s, err := openStore(storeConfig(sc.name, dir, testSegmentSize))
				var outcome string
				if err != nil {
					outcome = "refused to start: " + err.Error()
				} else {
					defer s.Close()
					var got raft.Log
					first, _ := s.FirstIndex()
					last, _ := s.LastIndex()
					switch err := s.GetLog(victim, &got); {
					case err != nil && (first != 1 || last != 400):
						outcome = fmt.Sprintf("SILENTLY DROPPED acknowledged entries: log is now [%d, %d]", first, last)
					case err != nil:
						outcome = "failed the read: " + err.Error()
					case sameLog(&got, entry(victim)):
						t.Fatalf("the damaged byte was not in entry %d", victim)
					default:
						outcome = fmt.Sprintf("SILENTLY RETURNED the damaged entry: %q", got.Data)
					}
				}
				t.Logf("%s, bit flip in entry %d: %s", sc.name, victim, outcome)
				if sc.detectsBitRot && victim == 17 && strings.HasPrefix(outcome, "SILENTLY") {
					t.Fatalf("%s claims to detect damage but %s", sc.name, outcome)
				}
			})
		}
	})
}

// TestStoreSecondOpen: while one opener holds the store, another must fail
// or wait, never share it (two raft servers on one log corrupt it).
func TestStoreSecondOpen(t *testing.T) {
	forEachStore(t, func(t *testing.T, sc storeCase) {
		dir := t.TempDir()
		s := openStoreT(t, sc.name, dir, testSegmentSize)
		appendRange(t, s, 1, 10, 10)
		type result struct {
			s   logStore
			err error
		}
		done := make(chan result, 1)
		go func() {
			s2, err := openStore(storeConfig(sc.name, dir, testSegmentSize))
			done <- result{s2, err}
		}()
		select {
		case r := <-done:
			if r.err == nil {
				r.s.Close()
				t.Fatal("a second open of a store in use succeeded")
			}
			t.Logf("second open failed: %v", r.err)
			s.Close()
		case <-time.After(2 * time.Second):
			t.Log("second open waits for the first to close")
			s.Close()
			if r := <-done; r.err == nil {
				checkRange(t, r.s, 1, 10)
				r.s.Close()
			}
		}
	})
}
