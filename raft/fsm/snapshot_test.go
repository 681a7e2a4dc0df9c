package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

// format1Golden is a JSON snapshot as servers before format 2 wrote it
// (snapshot.golden of 53cc762): kept, never updated, so restoring what
// older servers wrote stays tested.
const format1Golden = "testdata/snapshot-format1.golden"

// restoreBytes restores b into a new FSM.
func restoreBytes(t testing.TB, b []byte) *FSM {
	t.Helper()
	f := New()
	if err := f.Restore(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return f
}

// encodeBoth writes s in format 2, compressed and not.
func encodeBoth(t testing.TB, s *State) (compressed, plain []byte) {
	t.Helper()
	var c, p bytes.Buffer
	if err := WriteSnapshot(&c, s); err != nil {
		t.Fatal(err)
	}
	if err := writeSnapshot(&p, s, false); err != nil {
		t.Fatal(err)
	}
	return c.Bytes(), p.Bytes()
}

// ledgerJSON is the ledger as the state hash sees it.
func ledgerJSON(t testing.TB, s *State) string {
	t.Helper()
	b, err := json.Marshal(s.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSnapshotFormat1StillRestores: a JSON snapshot of an older server
// restores to the state plain JSON decoding gives, its chains verify, and
// the state goes through format 2 and back unchanged.
func TestSnapshotFormat1StillRestores(t *testing.T) {
	old, err := os.ReadFile(format1Golden)
	if err != nil {
		t.Fatal(err)
	}
	want := NewState()
	if err := json.Unmarshal(old, want); err != nil {
		t.Fatal(err)
	}
	got := restoreBytes(t, old).View()
	if got.Hash() != want.Hash() {
		t.Fatal("the format-1 snapshot restores to a state other than its JSON")
	}
	if len(got.Ledger["node001"]) != 15 {
		t.Fatalf("node001 has %d ledger entries, the snapshot 15", len(got.Ledger["node001"]))
	}
	for node, l := range got.Ledger {
		if n, err := model.VerifyChain(l); err != nil || n != len(l) {
			t.Errorf("%s: %d of %d entries verified: %v", node, n, len(l), err)
		}
	}
	c, p := encodeBoth(t, got)
	for _, b := range [][]byte{c, p} {
		back := restoreBytes(t, b).View()
		if back.Hash() != want.Hash() || ledgerJSON(t, back) != ledgerJSON(t, want) {
			t.Fatal("format 2 of the restored state restores to another state")
		}
	}
	if len(c) >= len(p) || len(p) >= len(old) {
		t.Errorf("sizes: JSON %d, format 2 %d, compressed %d: expected each smaller", len(old), len(p), len(c))
	}
}

// TestSnapshotFormatsRestoreAlike: ledger entries of every shape the
// section writes apart (zero and non-UTC times, a start or end off the
// entry's time, a hash that is not hex, a chain kept only from its middle,
// a redacted tenant, an empty and a nil ledger) restore from format 2
// exactly as from JSON.
func TestSnapshotFormatsRestoreAlike(t *testing.T) {
	paris := time.FixedZone("", 3600)
	s := NewState()
	s.Nodes["n1"] = &model.Node{Name: "n1", State: model.NodeReady}
	a := model.LedgerEntry{Time: t0, Step: "erase", Actor: "agent c1", OK: true, Evidence: "{}", Seq: 7, Prev: strings.Repeat("ab", 32)}
	a.Hash = a.ComputeHash()
	b := model.LedgerEntry{Time: t0.In(paris).Add(time.Nanosecond), Step: "partition", Actor: "ibexd", OK: false, Evidence: "é\x00\n", JobID: 1 << 60,
		Tenant: model.RedactedTenant, Seq: 8, Prev: a.Hash, Hash: "not-hex", Start: t0.Add(-time.Minute), End: t0.In(paris).Add(time.Nanosecond)}
	c := model.LedgerEntry{Step: "old", Seq: 0, Prev: "ABCDEF", Hash: strings.Repeat("F", 64)} // zero time, no chain
	d := model.LedgerEntry{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Step: "erase", Actor: "agent c1", Evidence: "{}", Seq: 20,
		Prev: strings.Repeat("0", 64), Hash: strings.Repeat("1", 64), Start: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}
	s.Ledger = map[string][]model.LedgerEntry{"n1": {a, b, c, d}, "n2": {}, "n3": nil, "": {a}}
	var js bytes.Buffer
	if err := WriteSnapshotJSON(&js, s); err != nil {
		t.Fatal(err)
	}
	var want *State
	restoreBytes(t, js.Bytes()).Read(func(s *State) { want = s })
	cz, p := encodeBoth(t, s)
	for i, enc := range [][]byte{cz, p} {
		var got *State
		restoreBytes(t, enc).Read(func(s *State) { got = s }) // not View: Clone makes empty ledgers nil
		if got.Hash() != want.Hash() || ledgerJSON(t, got) != ledgerJSON(t, want) {
			t.Fatalf("encoding %d: format 2 restores\n%s\nJSON restores\n%s", i, ledgerJSON(t, got), ledgerJSON(t, want))
		}
		if got.Ledger["n3"] != nil || got.Ledger["n2"] == nil {
			t.Fatalf("encoding %d: nil and empty ledgers came back as %v and %v", i, got.Ledger["n3"], got.Ledger["n2"])
		}
	}
}

// TestLedgerSectionCoversEveryField fails when model.LedgerEntry grows a
// field: the ledger section writes fields one by one, so a new one would
// be lost in every snapshot until snapshot.go writes it (then add it here).
func TestLedgerSectionCoversEveryField(t *testing.T) {
	written := []string{"Time", "Step", "Actor", "OK", "Evidence", "JobID", "Tenant", "Seq", "Prev", "Hash", "Start", "End"}
	var have []string
	for f := range reflect.TypeFor[model.LedgerEntry]().Fields() {
		have = append(have, f.Name)
	}
	if !reflect.DeepEqual(have, written) {
		t.Fatalf("model.LedgerEntry has fields %v; the snapshot's ledger section writes %v: write the new ones in snapshot.go (appendEntry, readEntry)", have, written)
	}
	// And each field survives on its own.
	base := model.LedgerEntry{Time: t0, Step: "s", Actor: "a", Evidence: "e", Seq: 1, Hash: "h"}
	set := []func(*model.LedgerEntry){
		func(e *model.LedgerEntry) { e.Time = t0.Add(time.Second) },
		func(e *model.LedgerEntry) { e.Step = "s2" },
		func(e *model.LedgerEntry) { e.Actor = "a2" },
		func(e *model.LedgerEntry) { e.OK = true },
		func(e *model.LedgerEntry) { e.Evidence = "e2" },
		func(e *model.LedgerEntry) { e.JobID = 9 },
		func(e *model.LedgerEntry) { e.Tenant = "t" },
		func(e *model.LedgerEntry) { e.Seq = 5 },
		func(e *model.LedgerEntry) { e.Prev = "p" },
		func(e *model.LedgerEntry) { e.Hash = "h2" },
		func(e *model.LedgerEntry) { e.Start = t0.Add(-time.Second) },
		func(e *model.LedgerEntry) { e.End = t0.Add(time.Hour) },
	}
	for i, fn := range set {
		e := base
		fn(&e)
		l := map[string][]model.LedgerEntry{"n": {base, e}}
		back, err := decodeLedger(encodeLedger(l))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back["n"][1], e) || reflect.DeepEqual(back["n"][1], base) {
			t.Fatalf("field %s: %+v came back as %+v", written[i], e, back["n"][1])
		}
	}
}

// TestRestoreRefusesBadSnapshots: a snapshot cut anywhere, with a wrong
// header, a count its bytes cannot hold, a string index out of the table,
// trailing data, or over MaxSnapshotBytes is refused with an error, and
// the FSM keeps its state.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	f := harness(t, 2)
	must(t, f.Apply(&DrainNode{Node: "node001", Reason: "r", By: "admin", Time: t0}))
	cz, p := encodeBoth(t, f.SnapshotState())
	g := harness(t, 5)
	keep := g.View().Hash()
	for _, enc := range [][]byte{cz, bytes.TrimSuffix(p, []byte("\n"))} { // JSON's newline is optional
		for n := 0; n < len(enc); n++ {
			if err := g.Restore(bytes.NewReader(enc[:n])); err == nil {
				t.Fatalf("a snapshot cut to %d of %d bytes restored", n, len(enc))
			}
		}
	}
	hdr := len(snapshotMagic)
	bad := map[string][]byte{
		"version 3":      append([]byte(snapshotMagic), 3, 0),
		"unknown flag":   append([]byte(snapshotMagic), 2, 0x80),
		"bad magic":      append([]byte("\x00ibex-snapshoT\n"), p[hdr:]...),
		"trailing data":  append(bytes.Clone(p), []byte(`{"x":1}`)...),
		"ledger in JSON": bytes.Replace(p, []byte(`"ledger":null`), []byte(`"ledger":{"a":[]}`), 1),
	}
	// The ledger section starts after the header and its length: a count
	// of strings far beyond the bytes there.
	lie := bytes.Clone(p)
	lie[hdr+2+1] = 0x7f // the string count (one byte in this small state)
	bad["string count"] = lie
	for name, b := range bad {
		if err := g.Restore(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: restored", name)
		}
	}
	defer func(m int64) { MaxSnapshotBytes = m }(MaxSnapshotBytes)
	MaxSnapshotBytes = int64(len(p)) / 2
	for _, enc := range [][]byte{cz, p} {
		if err := g.Restore(bytes.NewReader(enc)); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("over MaxSnapshotBytes: %v", err)
		}
	}
	if g.View().Hash() != keep {
		t.Fatal("a refused snapshot changed the state")
	}
}

// FuzzRestore: no input makes Restore panic, and whatever it accepts
// goes through format 2 and back to the same state.
func FuzzRestore(f *testing.F) {
	h := harness(f, 2)
	must(f, h.Apply(&DrainNode{Node: "node001", Reason: "r", By: "admin", Time: t0}))
	cz, p := encodeBoth(f, h.SnapshotState())
	f.Add(cz)
	f.Add(p)
	if old, err := os.ReadFile(format1Golden); err == nil {
		f.Add(old)
	}
	if cur, err := os.ReadFile("testdata/snapshot.golden"); err == nil {
		f.Add(cur)
	}
	defer func(m int64) { MaxSnapshotBytes = m }(MaxSnapshotBytes)
	MaxSnapshotBytes = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		g := New()
		if err := g.Restore(bytes.NewReader(b)); err != nil {
			return
		}
		s := g.View()
		var out bytes.Buffer
		if err := WriteSnapshot(&out, s); err != nil {
			t.Fatal(err)
		}
		back := New()
		if err := back.Restore(&out); err != nil {
			t.Fatalf("a restored state's own snapshot does not restore: %v", err)
		}
		if back.View().Hash() != s.Hash() {
			t.Fatal("a restored state's own snapshot restores to another state")
		}
	})
}

// BenchmarkSnapshot writes and restores a state of 10,000 enrolled nodes
// with four chained ledger entries each (the enrollment and a cleaning's
// erase, firmware and cleaned), per format, built directly rather than
// applied (bench/state applies whole job lives, much slower to set up):
//
//	go test ./raft/fsm -run '^$' -bench Snapshot -benchmem
func BenchmarkSnapshot(b *testing.B) {
	s := benchState()
	formats := []struct {
		name  string
		write func(io.Writer, *State) error
	}{{"json", WriteSnapshotJSON}, {"format2", WriteSnapshot}, {"format2-uncompressed", WriteSnapshotUncompressed}}
	for _, fm := range formats {
		var buf bytes.Buffer
		b.Run("write/"+fm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := fm.write(&buf, s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
		b.Run("restore/"+fm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := New().Restore(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchState is BenchmarkSnapshot's state.
func benchState() *State {
	s := NewState()
	for i := range 10000 {
		name := fmt.Sprintf("node%05d", i)
		n := &model.Node{Name: name, Leaf: fmt.Sprintf("leaf%03d", i/40), State: model.NodeReady, StateSince: t0,
			Agent: &model.Agent{CertSerial: "serial-" + name, EnrolledAt: t0}, LastJobID: uint64(i + 1)}
		var l []model.LedgerEntry
		for k, step := range []string{"enroll", "erase", "firmware", "cleaned"} {
			e := model.LedgerEntry{Time: t0.Add(time.Duration(k) * time.Second), Step: step, Actor: "agent serial-" + name, OK: true,
				Evidence: `{"device":"/dev/nvme0n1","method":"nvme-format","bytes":3840755982336,"seconds":41,"verified_zero_samples":4096}`,
				JobID:    uint64(i + 1), Tenant: "alice", Seq: uint64(k + 1)}
			if k > 0 {
				e.Prev = l[k-1].Hash
				e.Start, e.End = e.Time.Add(-time.Second), e.Time
			}
			e.Hash = e.ComputeHash()
			l = append(l, e)
			n.LedgerSeq, n.LedgerHead = e.Seq, e.Hash
		}
		s.Nodes[name], s.Ledger[name] = n, l
	}
	return s
}
