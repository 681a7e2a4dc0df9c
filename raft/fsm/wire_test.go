package fsm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/model"
)

var update = flag.Bool("update", false, "rewrite testdata/wire.golden")

// wireLog is one command of every type, in an order that applies cleanly,
// with the type byte each must keep forever: raft logs and snapshots
// written by older servers hold these bytes.
func wireLog() []struct {
	typ byte
	cmd Command
} {
	zero := 0
	return []struct {
		typ byte
		cmd Command
	}{
		{1, &RegisterNodes{Nodes: []NodeSpec{{Name: "node001", Leaf: "leaf01"}, {Name: "node002", Leaf: "leaf01"}}, Time: t0}},
		{2, &CreateTenant{Tenant: model.Tenant{Name: "alice", TokenHash: "a"}}},
		{11, &RegisterServer{Server: model.Server{ID: "s1", RaftAddr: "10.0.0.1:7000", APIAddr: "10.0.0.1:7001"}}},
		{11, &RegisterServer{Server: model.Server{ID: "s2", RaftAddr: "10.0.0.2:7000", APIAddr: "10.0.0.2:7001"}}},
		{12, &DeregisterServer{ID: "s2"}},
		{64, &SetClusterSecrets{Secrets: model.ClusterSecrets{CACertPEM: "cert", CAKeyPEM: "key", GossipKey: "gk"}}},
		{83, &ResealClusterSecrets{CACertPEM: "cert", CAKey: model.Sealed{KeyID: "k0123456789abcdef", Box: []byte("nonce+sealed ca key")}, GossipKey: model.Sealed{KeyID: "k0123456789abcdef", Box: []byte("nonce+sealed gossip key")}}},
		{68, &AddImage{Image: model.Image{Name: "rocky9", Version: "1", Size: 10, SHA256: "ab", SourceURL: "http://img/rocky9"}}},
		{68, &AddImage{Image: model.Image{Name: "alice-env", Version: "1", Size: 10, SHA256: strings.Repeat("c", 64), SourceURL: "https://alice.example/env.img",
			BlockSize: 4096, Blocks: []string{strings.Repeat("d", 64)}, Owner: "alice"}}},
		{89, &RemoveImage{Ref: "alice-env:1"}},
		{87, &AddFirmwareProfile{Profile: model.FirmwareProfile{Name: "sriov", Kind: model.ProfileHCA, Description: "SR-IOV on",
			HCA: []model.HCAProfileRule{{PSID: "MT_0000000223", Config: map[string]string{"SRIOV_EN": "1", "NUM_OF_VFS": "8"}}}}, By: "admin", Time: t0}},
		{87, &AddFirmwareProfile{Profile: model.FirmwareProfile{Name: "turbo-off", Kind: model.ProfileBIOS,
			BIOS: map[string]string{"ProcTurboMode": "Disabled"}}, By: "admin", Time: t0}},
		{88, &RemoveFirmwareProfile{Name: "turbo-off"}},
		{74, &ImportTopology{Text: "Switch 36 \"S-1\"", NameMap: "", Hosts: []NodeSpec{{Name: "node001", Leaf: "leafA"}}, Time: t0}},
		{76, &LabelNode{Node: "node001", Features: []string{"gpu", "a100"}}},
		{65, &CreateJoinToken{Node: "node001", Hash: "h1", Expires: t0.Add(time.Hour)}},
		{66, &Enroll{Node: "node001", TokenHash: "h1", CertSerial: "c1", Time: t0}},
		{69, &NodeInventory{Node: "node001", Inventory: `{"cpus":64}`}},
		{70, &StartTask{Node: "node001", Task: model.NodeTask{ID: "erase-0", Kind: "erase", Started: t0}}},
		{71, &TaskDone{Node: "node001", TaskID: "erase-0", OK: true, Evidence: "{}", Time: t0}},
		{70, &StartTask{Node: "node001", Task: model.NodeTask{ID: "fw-0", Kind: "firmware", Started: t0}}},
		{71, &TaskDone{Node: "node001", TaskID: "fw-0", OK: true, Evidence: "{}", Time: t0}},
		{70, &StartTask{Node: "node001", Task: model.NodeTask{ID: "img-0", Kind: "image", Image: "rocky9:1", Started: t0}}},
		{71, &TaskDone{Node: "node001", TaskID: "img-0", OK: true, Evidence: `{"BytesWritten":10}`, Time: t0}},
		{10, &NodeCleaned{Node: "node001", Image: "rocky9:1", Evidence: "first cleaning; no fabric", Time: t0}},
		{3, &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, RequestID: "r1"}, Time: t0}},
		{78, &StartHandoutCheck{Node: "node001", Check: model.Handout{ID: "handout/node001/1", Started: t0,
			Challenge: &model.Challenge{Nonce: "000102030405060708090a0b0c0d0e0f", Image: "rocky9:1", Blocks: []int{0}}}}},
		{79, &HandoutChecked{Node: "node001", ID: "handout/node001/1", OK: true, Time: t0,
			Answer: `{"nonce":"000102030405060708090a0b0c0d0e0f","procs":{"checked":["job cgroups"]}}`}},
		{4, &Allocate{JobID: 1, Nodes: []string{"node001"}, PKey: 0x10, PKeyCooldown: time.Minute, Time: t0}},
		{13, &PartitionReady{JobID: 1, PKey: 0x10, Time: t0}},
		{90, &PartitionDrift{Nodes: []string{"node001"}, Evidence: "partitions file replaced; rewritten and OpenSM signalled in 412ms", Repaired: true, Time: t0}},
		{5, &StartJob{JobID: 1, Time: t0.Add(time.Second)}},
		{6, &FinishJob{JobID: 1, State: model.JobCompleted, ExitCode: &zero, RequestID: "rel1", Time: t0.Add(time.Minute),
			Usage: &model.JobUsage{CPUSeconds: 1.5, MemoryPeakBytes: 1 << 20, OutputBytes: 42}}},
		{77, &JobStopped{Node: "node001", JobID: 1, Evidence: "cgroup of job 1 on node001: none left, cgroup removed", Time: t0.Add(time.Minute)}},
		{3, &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Script: "#!/bin/sh\n"}, Time: t0}},
		{14, &PendingReasons{Reasons: map[uint64]string{2: "Resources"}}},
		{7, &CancelJob{JobID: 2, By: "alice", Reason: "changed my mind", RequestID: "c1", Time: t0}},
		{3, &SubmitJob{Job: model.Job{Tenant: "alice", Name: "sweep", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, Held: true,
			BeginTime: t0.Add(time.Hour), Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: 1}, {Type: model.DepSingleton}},
			ArrayPending: model.IndexSet{{Lo: 0, Hi: 3}, {Lo: 8, Hi: 16, Step: 4}}, ArrayThrottle: 2}, Time: t0}},
		{15, &ReleaseHold{JobID: 3, By: "alice", RequestID: "rh1"}},
		{16, &CancelArrayTask{JobID: 3, Task: 12, By: "alice", RequestID: "ct1", Time: t0}},
		{8, &DrainNode{Node: "node002", Reason: "bad DIMM", By: "admin", Time: t0}},
		{9, &UndrainNode{Node: "node002", Time: t0}},
		{72, &NodeDown{Node: "node002", Reason: "gossip: agent dead", Time: t0}},
		{73, &NodeUp{Node: "node002", Time: t0.Add(time.Minute)}},
		{75, &QuarantineNode{Node: "node002", Reason: "operator", Time: t0.Add(time.Minute)}},
		{67, &RevokeAgent{Node: "node001", Reason: "stolen", By: "admin", Time: t0}},
		{80, &SetNodeBMC{Node: "node002", BMC: model.NodeBMC{Endpoint: "https://10.0.0.2", SystemID: "1", Credentials: model.Sealed{KeyID: "k0123456789abcdef", Box: []byte("nonce+ciphertext")}}, By: "admin", Time: t0}},
		{81, &Provision{Node: "node002", Event: model.EvInspect, Evidence: "PowerState On", Time: t0}},
		{81, &Provision{Node: "node002", Event: model.EvRetry, Reason: "BMC did not answer", Time: t0.Add(time.Minute)}},
		{82, &ResealBMC{Node: "node002", From: "k0123456789abcdef", Credentials: model.Sealed{KeyID: "kfedcba9876543210", Box: []byte("other nonce+ciphertext")}, Time: t0}},
		{81, &Provision{Node: "node002", Event: model.EvFail, Reason: "firmware BMC: agent reports 1.2, BMC 1.3", Time: t0.Add(2 * time.Minute)}},
		// Commands a leader stamped with its server id (custody.go): the
		// ledger names it, entries carry start and end, and an attempt
		// given up or lost with its node is an interrupted entry.
		{76, &LabelNode{Node: "node001", Features: []string{"gpu"}, By: "admin", Time: t0.Add(2 * time.Minute), Origin: Origin{Server: "s1"}}},
		{70, &StartTask{Node: "node001", Task: model.NodeTask{ID: "erase-1", Kind: "erase", Started: t0.Add(2 * time.Minute)}}},
		{85, &InterruptTask{Node: "node001", TaskID: "erase-1", Reason: "no result within 4h0m0s", Time: t0.Add(3 * time.Minute), Origin: Origin{Server: "s1"}}},
		{70, &StartTask{Node: "node001", Task: model.NodeTask{ID: "fw-1", Kind: "firmware", Started: t0.Add(3 * time.Minute)}}},
		{72, &NodeDown{Node: "node001", Reason: "gossip: agent dead", Time: t0.Add(4 * time.Minute), Origin: Origin{Server: "s2"}}},
		{73, &NodeUp{Node: "node001", Time: t0.Add(5 * time.Minute), Origin: Origin{Server: "s2"}}},
		// One entry, two commands: the second is refused (no such node) and
		// fails alone; the label commits.
		{97, &Batch{Commands: []Command{&LabelNode{Node: "node002", Features: []string{"ib"}},
			&DrainNode{Node: "node404", Reason: "typo", By: "admin", Time: t0}}}},
		{96, &ExpireRecords{Before: t0.Add(-time.Hour), Limit: 10}},
		// A link-isolated job over two leaves: its allocation records the
		// uplinks it holds (scheduler/links.go).
		{1, &RegisterNodes{Nodes: []NodeSpec{{Name: "node003", Leaf: "leaf02"}, {Name: "node004", Leaf: "leaf03"}}, Time: t0}},
		{3, &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 2, TimeLimit: time.Hour, Interactive: true, Isolation: "links"}, Time: t0}},
		{4, &Allocate{JobID: 5, Nodes: []string{"node003", "node004"}, Links: []string{"leaf02>spine01", "leaf03>spine01"}, Time: t0}},
		// A bios profile applied through a node's BMC and restored by the
		// cleaning (biosprofile.go).
		{1, &RegisterNodes{Nodes: []NodeSpec{{Name: "node005", Leaf: "leaf04"}}, Time: t0}},
		{80, &SetNodeBMC{Node: "node005", BMC: model.NodeBMC{Endpoint: "https://10.0.0.5", SystemID: "1", Credentials: model.Sealed{KeyID: "k0123456789abcdef", Box: []byte("nonce+ciphertext")}}, By: "admin", Time: t0}},
		{81, &Provision{Node: "node005", Event: model.EvInspect, Evidence: "PowerState On", Time: t0}},
		{81, &Provision{Node: "node005", Event: model.EvInspected, Evidence: "inventory matches", Time: t0}},
		{10, &NodeCleaned{Node: "node005", Evidence: "inspected; no agent", Time: t0}},
		{87, &AddFirmwareProfile{Profile: model.FirmwareProfile{Name: "turbo", Kind: model.ProfileBIOS,
			BIOS: map[string]string{"ProcTurboMode": "Disabled"}}, By: "admin", Time: t0}},
		{3, &SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Minute, Argv: []string{"true"}, FirmwareProfile: "turbo"}, Time: t0}},
		{4, &Allocate{JobID: 6, Nodes: []string{"node005"}, Time: t0}},
		{91, &BIOSProfileApplied{Node: "node005", JobID: 6, Profile: "turbo", Baseline: map[string]string{"ProcTurboMode": "Enabled"},
			Readings: map[string]string{"ProcTurboMode": "Disabled"}, ApplyTime: "OnReset", Start: t0, Time: t0.Add(time.Minute)}},
		{7, &CancelJob{JobID: 6, By: "alice", Reason: "done", RequestID: "c6", Time: t0.Add(2 * time.Minute)}},
		{93, &BIOSStepFailed{Node: "node005", JobID: 6, Step: StepBIOSRestore, Error: "BMC answered 503", Start: t0.Add(2 * time.Minute), Time: t0.Add(3 * time.Minute)}},
		{92, &BIOSRestored{Node: "node005", JobID: 6, Readings: map[string]string{"ProcTurboMode": "Enabled"}, Start: t0.Add(3 * time.Minute), Time: t0.Add(4 * time.Minute)}},
		// Submissions in the binary encoding (submitwire.go): one alone,
		// two in a batch entry, as group commit sends them. The type-3
		// entries above are the JSON form older servers wrote.
		{25, &SubmitJob{Job: model.Job{Tenant: "alice", Name: "bin", NumNodes: 1, TimeLimit: 90 * time.Second, Argv: []string{"echo", "", "é\n"},
			RequestID: "r25", Env: []string{"A=1"}, Workdir: "/w", Output: "o.%j", NoSlurmEnv: true, Depend: []model.Dependency{{Type: model.DepAfterOK, JobID: 1}},
			BeginTime: t0.Add(time.Hour), Features: []string{"gpu"}}, Time: t0.Add(5 * time.Minute)}},
		{97, &Batch{Commands: []Command{
			&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Interactive: true, RequestID: "b1"}, Time: t0.Add(6 * time.Minute)},
			&SubmitJob{Job: model.Job{Tenant: "alice", NumNodes: 1, TimeLimit: time.Hour, Script: strings.Repeat("#", 200), RequestID: "b2"}, Time: t0.Add(6 * time.Minute)}}}},
		// A BIOS reset marked, then cleared (powercycle.go).
		{47, &PowerCycle{Node: "node005", Until: t0.Add(22 * time.Minute), Time: t0.Add(7 * time.Minute)}},
		{47, &PowerCycle{Node: "node004", Until: t0.Add(22 * time.Minute), Time: t0.Add(7 * time.Minute)}},
		{47, &PowerCycle{Node: "node005", Time: t0.Add(8 * time.Minute)}},
	}
}

// encodeAs encodes cmd as the golden pins it under typ: Encode's form,
// or, for a command whose old JSON form (its own Type) is pinned as
// well, that form, which older servers wrote and which still decodes.
func encodeAs(typ byte, cmd Command) ([]byte, error) {
	if typ == byte(CmdSubmitJob) {
		return legacyJSON(cmd)
	}
	return Encode(cmd)
}

// legacyJSON is the encoding every command had before submitwire.go: the
// type byte, then JSON.
func legacyJSON(cmd Command) ([]byte, error) {
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	return append([]byte{byte(cmd.Type())}, body...), nil
}

// goldenBody is an entry's body as a golden line holds it: as it is when
// it is printable text, else "hex:" and its hex digits (binary entries).
func goldenBody(body []byte) string {
	for _, c := range body {
		if c < 0x20 || c >= 0x7f {
			return "hex:" + hex.EncodeToString(body)
		}
	}
	return string(body)
}

func parseGoldenBody(s string) ([]byte, error) {
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		return hex.DecodeString(h)
	}
	return []byte(s), nil
}

// TestWireFormatIsPinned checks every command's type byte and JSON against
// testdata/wire.golden, then decodes the golden log and applies it: what an
// older server wrote must still decode and apply.
func TestWireFormatIsPinned(t *testing.T) {
	var out bytes.Buffer
	seen := map[byte]bool{}
	for _, w := range wireLog() {
		seen[w.typ] = true
		b, err := encodeAs(w.typ, w.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != w.typ {
			t.Errorf("%T is written with type byte %d, pinned %d", w.cmd, b[0], w.typ)
		}
		fmt.Fprintf(&out, "%d %s\n", b[0], goldenBody(b[1:]))
	}
	if len(seen) != len(handlers) {
		t.Errorf("the wire log covers %d command types, want all %d", len(seen), len(handlers))
	}
	const golden = "testdata/wire.golden"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("encoding changed; old logs would no longer decode the same.\ngot:\n%s\nwant:\n%s", out.Bytes(), want)
	}

	f := New()
	sc := bufio.NewScanner(bytes.NewReader(want))
	sc.Buffer(nil, 1<<20)
	for i := uint64(1); sc.Scan(); i++ {
		typ, body, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(typ)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := parseGoldenBody(body)
		if err != nil {
			t.Fatalf("golden entry %d: %v", i, err)
		}
		entry := append([]byte{byte(n)}, raw...)
		cmd, err := Decode(entry)
		if err != nil {
			t.Fatalf("golden entry %d: %v", i, err)
		}
		again, _ := encodeAs(byte(n), cmd)
		if !bytes.Equal(again, entry) {
			t.Errorf("golden entry %d does not round-trip:\n%s\n%s", i, again[1:], body)
		}
		if r := f.ApplyEntry(i, entry); r.Err != nil {
			t.Fatalf("golden entry %d (%T): %v", i, cmd, r.Err)
		}
	}
	s := f.View()
	if n := s.Nodes["node001"]; n.State != model.NodeCleaning || n.LastJobID != 1 || n.LastPKey != 0x10 || !n.Drained || n.Leaf != "leafA" {
		t.Errorf("node001 after the golden log: %+v", n)
	}
	if n := s.Nodes["node002"]; len(n.Features) != 1 || n.Features[0] != "ib" {
		t.Errorf("node002's label from the batch entry: %v", n.Features)
	}
	if n := s.Nodes["node002"]; n.State != model.NodeQuarantined || n.ProvisionState() != model.ProvInspectFailed || n.BMC.Credentials.KeyID != "kfedcba9876543210" {
		t.Errorf("node002 after the golden log: %+v", n)
	}
	if n := s.Nodes["node005"]; n.BIOS == nil || n.BIOS.Profile != "" || n.BIOS.Verified["ProcTurboMode"] != "Enabled" || n.StepFailures[model.TaskBIOSRestore] != 1 {
		t.Errorf("node005's BIOS after the golden log: %+v", n.BIOS)
	}
	if j := s.Jobs[7]; j == nil || j.Name != "bin" || j.TimeLimit != 90*time.Second || !slices.Equal(j.Argv, []string{"echo", "", "é\n"}) || !j.NoSlurmEnv ||
		len(j.Depend) != 1 || j.Depend[0].JobID != 1 || !j.BeginTime.Equal(t0.Add(time.Hour)) || !j.SubmitTime.Equal(t0.Add(5*time.Minute)) || s.Requests["alice/r25"] != 7 {
		t.Errorf("binary submission, job 7, after the golden log: %+v", j)
	}
	if a, b := s.Jobs[8], s.Jobs[9]; a == nil || b == nil || !a.Interactive || len(b.Script) != 200 || s.Requests["alice/b2"] != 9 {
		t.Errorf("batched binary submissions after the golden log: %+v / %+v", a, b)
	}
	if len(s.Jobs) != 9 || s.Jobs[1].State != model.JobCompleted || s.Jobs[2].State != model.JobCancelled || len(s.Servers) != 1 {
		t.Errorf("jobs %v servers %v", s.Jobs, s.Servers)
	}
	// The array: released from its hold, task 12 cancelled into job 4,
	// the rest still one pending record.
	if a, c := s.Jobs[3], s.Jobs[4]; a.Held || a.State != model.JobPending || a.ArrayPending.String() != "0-3,8,16" ||
		c.State != model.JobCancelled || c.ArrayJobID != 3 || c.ArrayTaskID != 12 || c.EndRequestID != "ct1" {
		t.Errorf("array after the golden log: %+v / %+v", a, c)
	}

	// The stamped commands' entries: the server as actor, start and end,
	// the interrupted attempts; the whole chain, old and new, verifies.
	var got []string
	for _, e := range s.Ledger["node001"] {
		if !e.Start.IsZero() {
			got = append(got, fmt.Sprintf("%s|%s|%s-%s", e.Step, e.Actor, e.Start.Format("15:04"), e.End.Format("15:04")))
		}
	}
	wantNew := []string{"label|admin|08:02-08:02", "erase:interrupted|server s1|08:02-08:03",
		"firmware:interrupted|server s2|08:03-08:04", "down|server s2 (gossip)|08:04-08:04", "up|server s2 (gossip)|08:05-08:05"}
	if fmt.Sprint(got) != fmt.Sprint(wantNew) {
		t.Errorf("node001's stamped entries:\n got %q\nwant %q", got, wantNew)
	}
	if n, err := model.VerifyChain(s.Ledger["node001"]); err != nil || n != len(s.Ledger["node001"]) {
		t.Errorf("node001's chain: %d of %d verified: %v", n, len(s.Ledger["node001"]), err)
	}
	if j := s.Jobs[5]; j.State != model.JobScheduled || !slices.Equal(j.Links, []string{"leaf02>spine01", "leaf03>spine01"}) {
		t.Errorf("isolated job 5 after the golden log: %+v", j)
	}

	// The snapshot of that state is pinned too, and restores to it:
	// format 2 uncompressed (snapshot.go), as DEFLATE's bytes are the
	// compressor's, not the format's.
	var snap bytes.Buffer
	if err := writeSnapshot(&snap, f.SnapshotState(), false); err != nil {
		t.Fatal(err)
	}
	const snapGolden = "testdata/snapshot.golden"
	if *update {
		if err := os.WriteFile(snapGolden, snap.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(snapGolden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap.Bytes(), old) {
		t.Errorf("snapshot encoding changed:\ngot:  %s\nwant: %s", snap.Bytes(), old)
	}
	g := New()
	if err := g.Restore(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if g.View().Hash() != s.Hash() {
		t.Error("the pinned snapshot restores to a different state")
	}
}

// TestEveryRegisteredCommandIsPinned: a new command must be added to
// wireLog (and so to the golden file) with its type byte.
func TestEveryRegisteredCommandIsPinned(t *testing.T) {
	pinned := map[CommandType]bool{}
	for _, w := range wireLog() {
		pinned[CommandType(w.typ)] = true
	}
	for typ, h := range handlers {
		if !pinned[typ] {
			t.Errorf("%s (type %d) is registered but not in wireLog", h.name, typ)
		}
	}
	if len(handlers) != len(pinned) {
		t.Errorf("%d handlers registered, %d types pinned", len(handlers), len(pinned))
	}
}

func TestUnknownTypeByteIsAClearError(t *testing.T) {
	_, err := Decode([]byte{200, '{', '}'})
	if err == nil || !strings.Contains(err.Error(), "unknown type byte 200") {
		t.Fatalf("Decode of type 200: %v", err)
	}
	_, err = Decode([]byte{byte(CmdSubmitJob), '['})
	if err == nil || !strings.Contains(err.Error(), "SubmitJob") {
		t.Fatalf("Decode of a broken SubmitJob: %v", err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "unknown type byte 200") {
			t.Fatalf("ApplyEntry of an unknown type: panic %v", r)
		}
	}()
	New().ApplyEntry(1, []byte{200, '{', '}'})
}

// The structured partition-key check of NodeCleaned is wire format too.
func TestNodeCleanedCheckJSONIsPinned(t *testing.T) {
	c := &NodeCleaned{Node: "node001", JobID: 1, Evidence: "e", Time: t0, PKeyCheck: &model.PKeyCheck{PKey: 0x10,
		Ports: []model.PortCheck{{GUID: "0x0002c90300000011", ObservedAt: t0, Absent: true, Table: "0x7fff"}}}}
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"node":"node001","job_id":1,"evidence":"e","time":"2026-11-27T08:00:00Z","pkey_check":{"pkey":16,"ports":[{"guid":"0x0002c90300000011","observed_at":"2026-11-27T08:00:00Z","absent":true,"table":"0x7fff"}]}}`
	if b[0] != 10 || string(b[1:]) != want {
		t.Fatalf("got %d %s", b[0], b[1:])
	}
	b, _ = Encode(&NodeCleaned{Node: "n", Evidence: "e", PKeyCheck: &model.PKeyCheck{NoFabric: true}})
	if !strings.Contains(string(b), `"pkey_check":{"no_fabric":true}`) {
		t.Fatalf("no fabric: %s", b[1:])
	}
}
