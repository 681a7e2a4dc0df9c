package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/agent"
	"github.com/ibex-hpc/ibex/nodeagent/erase"
	"github.com/ibex-hpc/ibex/nodeagent/firmware"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server/control"
)

// The fabric of the real-machine test: testdata's two-leaf ibtopotool
// sample. Leaf S-005442ba00003080 has hosts H-0008f10403960558 (two ports)
// and H-0008f10403961354; leaf S-0008f10400410015 has H-0008f10403960984
// and H-005442b100004900.
const (
	topoFile  = "../testdata/ib-topology/ibtopotool-doc-samples/1.topo"
	leafA     = "S-005442ba00003080"
	leafB     = "S-0008f10400410015"
	testPSID  = "MT_0000000228"
	testFWVer = "20.1.1000"
)

// TestRealMachines starts ibexd without --simulate (real raft in a temp
// dir), imports the fabric, and enrolls in-process agents whose sysfs
// reports port GUIDs: nodes exist only once enrolled, are cleaned, and
// become ready placed under their hosts' leaves; a node whose GUID is not
// in the topology is ready but unplaced, with the reason; a node reporting
// another's GUID is refused (drained with the reason) and never
// allocated; an interactive allocation asking for one leaf gets the two
// nodes that share one; the partition ports are the reported GUIDs.
func TestRealMachines(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{DataDir: t.TempDir(), Bootstrap: true,
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t), AgentListen: testcluster.FreeAddr(t),
		FirmwarePins:   []control.FirmwarePin{{PSID: testPSID, Version: testFWVer, SHA256: strings.Repeat("ab", 32), File: "fw.bin"}},
		ReconcileEvery: 50 * time.Millisecond, Logger: log}
	s, stop := runServer(t, cfg)
	defer func() { stop() }()
	cl, err := client.New(s.Addr(), s.AdminToken, client.WithCAPin(s.CAPin()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := cl.Context(t.Context())

	nodes := func() map[string]*pb.Node {
		resp, err := cl.Nodes.List(ctx, &pb.ListNodesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*pb.Node{}
		for _, n := range resp.Nodes {
			out[n.Name] = n
		}
		return out
	}
	if n := nodes(); len(n) != 0 {
		t.Fatalf("a real-machine cluster starts with nodes: %v", n)
	}
	if sum, err := cl.Topology.Show(ctx, &pb.ShowTopologyRequest{}); err != nil || !strings.Contains(sum.Source, "none imported") {
		t.Fatalf("topology before the import: %v, %v", sum, err)
	}
	text, err := os.ReadFile(topoFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Topology.Import(ctx, &pb.ImportTopologyRequest{Text: string(text)}); err != nil {
		t.Fatal(err)
	}
	if n := nodes(); len(n) != 0 {
		t.Fatalf("the import registered the dump's hosts as nodes: %v", n)
	}

	agents := &agentSet{t: t, cl: cl, log: log}
	agents.start("alpha", "0x0008f10403960559", "0x0008f1040396055a") // H-...0558, both ports
	// H-...1354, alpha's leaf; its second port is down (uncabled) and its
	// third is RoCE: neither counts.
	agents.start("epsilon", "0x0008f10403961355", "0x0002c903000000d1 down", "0x0002c903000000e1 ethernet")
	agents.start("beta", "0x0008f10403960985") // H-...0984, the other leaf
	agents.start("lost", "0x0002c90300000099") // in no dump
	ready := func(names ...string) func() bool {
		return func() bool {
			n := nodes()
			for _, name := range names {
				if n[name] == nil || n[name].State != "ready" {
					return false
				}
			}
			return true
		}
	}
	waitNodes := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				var b strings.Builder
				for _, n := range nodes() {
					fmt.Fprintf(&b, "\n  %s %s leaf %q reason %q", n.Name, n.State, n.Leaf, n.DrainReason)
				}
				t.Fatalf("timed out waiting for %s; nodes:%s", what, b.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitNodes("four enrolled nodes cleaned and ready", ready("alpha", "epsilon", "beta", "lost"))
	// The thief enrolls only now, so that beta surely reported first.
	agents.start("thief", "0x0008f10403960985")
	waitNodes("the thief refused", func() bool {
		n := nodes()["thief"]
		return n != nil && strings.Contains(n.DrainReason, "refused")
	})

	n := nodes()
	for name, leaf := range map[string]string{"alpha": leafA, "epsilon": leafA, "beta": leafB} {
		if n[name].Leaf != leaf || n[name].DrainReason != "" {
			t.Errorf("%s: leaf %q, reason %q; want leaf %s", name, n[name].Leaf, n[name].DrainReason, leaf)
		}
	}
	if l := n["lost"]; l.Leaf != "" || l.State != "ready" || l.DrainReason != "unplaced: port GUID 0x0002c90300000099 not in the imported topology" {
		t.Errorf("lost: state %s, leaf %q, reason %q", l.State, l.Leaf, l.DrainReason)
	}
	if th := n["thief"]; th.DrainReason != "refused: port GUID 0x0008f10403960985 is already node beta's" || th.State != "drained" && th.State != "draining" {
		t.Errorf("thief: state %s, reason %q", th.State, th.DrainReason)
	}
	d, err := cl.Fleet.NodeDetail(ctx, &pb.NodeDetailRequest{Node: "lost"})
	if err != nil || !strings.Contains(d.Node.DrainReason, "not in the imported topology") || d.Inventory.GetHcas()[0].GetPorts()[0].GetGuid() != "0x0002c90300000099" {
		t.Fatalf("lost's detail: %v, %v", d, err)
	}
	if _, err := cl.Nodes.Undrain(ctx, &pb.UndrainRequest{Node: "thief"}); err == nil || !strings.Contains(err.Error(), "already node beta's") {
		t.Fatalf("undrain of the thief: %v", err)
	}

	// Partition keys go to exactly the GUIDs each agent reported.
	for name, want := range map[string][]sm.GUID{"alpha": {0x0008f10403960559, 0x0008f1040396055a}, "epsilon": {0x0008f10403961355},
		"lost": {0x0002c90300000099}, "thief": nil} {
		if got := s.fabric.PortsOf(name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("PortsOf(%s) = %v, want %v", name, got, want)
		}
	}

	// Two nodes on one leaf: alpha and epsilon, the only pair that shares one.
	sub, err := cl.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 2, Interactive: true, TimeLimit: durationpb.New(time.Hour),
		Switches: 1, SwitchWait: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var job *pb.Job
	testutil.WaitFor(t, "the allocation running", 30*time.Second, func() bool {
		job, err = cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: sub.JobId})
		return err == nil && job.State == "running"
	})
	if got := strings.Join(job.Nodes, ","); got != "alpha,epsilon" {
		t.Fatalf("a one-leaf allocation got %s", got)
	}
}

// agentSet runs in-process agents for the real-machine test, each with a
// sysfs tree whose one HCA reports the given port GUIDs.
type agentSet struct {
	t   *testing.T
	cl  *client.Client
	log *slog.Logger
}

func (as *agentSet) start(node string, guids ...string) {
	t := as.t
	t.Helper()
	tok, err := as.cl.Fleet.CreateJoinToken(as.cl.Context(t.Context()), &pb.CreateJoinTokenRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	writeHCA(t, root, guids)
	disk := filepath.Join(dir, "disk")
	if err := os.WriteFile(disk, []byte("the last tenant's data"), 0o600); err != nil {
		t.Fatal(err)
	}
	flasher := firmware.NewFake()
	flasher.AddDevice("mlx5_0", firmware.FakeDevice{PSID: testPSID, Burned: testFWVer, Running: testFWVer})
	a := &agent.Agent{
		Config: agent.Config{Node: node, Servers: tok.AgentAddrs, DataDir: filepath.Join(dir, "agent"),
			JoinToken: tok.Token, CAPin: tok.CaPin, SysfsRoot: root, Disk: disk, FirmwareDir: dir, NoGossip: true,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond},
		Eraser: &erase.Overwrite{Samples: 8}, Flasher: flasher, Logger: as.log.With("node", node),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Start(ctx); err != nil {
			t.Errorf("agent %s: %v", node, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// writeHCA writes a ConnectX adapter mlx5_0 into root's sysfs with one
// port per GUID (a GUID is the low half of the port's GID 0): an active
// InfiniBand port, or with " down" a port without link, or with
// " ethernet" a RoCE port.
func writeHCA(t *testing.T, root string, guids []string) {
	t.Helper()
	dev := filepath.Join(root, "sys/class/infiniband/mlx5_0")
	files := map[string]string{"board_id": testPSID + "\n", "fw_ver": testFWVer + "\n", "hca_type": "MT4123\n",
		"node_guid": "0c42:a103:0016:054c\n", "node_type": "1: CA\n"}
	for i, spec := range guids {
		g, kind, _ := strings.Cut(spec, " ")
		var v uint64
		if _, err := fmt.Sscanf(g, "0x%x", &v); err != nil {
			t.Fatal(err)
		}
		p := fmt.Sprintf("ports/%d/", i+1)
		files[p+"state"], files[p+"phys_state"] = "4: ACTIVE\n", "5: LinkUp\n"
		files[p+"rate"], files[p+"link_layer"] = "200 Gb/sec (4X HDR)\n", "InfiniBand\n"
		switch kind {
		case "down":
			files[p+"state"], files[p+"phys_state"] = "1: DOWN\n", "2: Polling\n"
		case "ethernet":
			files[p+"link_layer"] = "Ethernet\n"
		}
		files[p+"lid"] = fmt.Sprintf("0x%x\n", i+1)
		files[p+"gids/0"] = fmt.Sprintf("fe80:0000:0000:0000:%04x:%04x:%04x:%04x\n", uint16(v>>48), uint16(v>>32), uint16(v>>16), uint16(v))
	}
	for f, content := range files {
		p := filepath.Join(dev, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
