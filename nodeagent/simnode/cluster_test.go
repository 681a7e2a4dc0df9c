package simnode_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/ibsim"
	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/fabric/sm/simsm"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/hca"
	"github.com/ibex-hpc/ibex/nodeagent/simnode"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/server"
	"github.com/ibex-hpc/ibex/server/control"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

// simCluster is a server with simulated nodes whose agents run here.
type simCluster struct {
	srv   *server.Server
	fleet *simnode.Fleet
	cl    *client.Client
	ctx   context.Context // with the admin token
	stop  func()          // ends the agents and the server; idempotent
}

// startSimCluster wires what `ibexd --dev` wires: simulated hosts with
// ibsim's port GUIDs, the in-memory SM wrapped in a Mirror, the agent
// listener and gossip, the simulated HCAs' firmware pin, and one agent per
// host, enrolled through the admin API. The nodes live in root (a new
// directory if empty).
func startSimCluster(t *testing.T, nodes int, root string) *simCluster {
	t.Helper()
	return startSimClusterWith(t, nodes, root, nil)
}

// startSimClusterWith is startSimCluster with prepare, when set, run on
// the fleet before its agents start (to swap a node's hardware).
func startSimClusterWith(t *testing.T, nodes int, root string, prepare func(*simnode.Fleet)) *simCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server and its agents")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dir := t.TempDir()
	cfg := server.Config{DataDir: filepath.Join(dir, "data"), Bootstrap: true, Simulate: true,
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t),
		AgentListen: testcluster.FreeAddr(t), GossipBind: testcluster.FreeAddr(t),
		Fabric: topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: nodes}, ReconcileEvery: 50 * time.Millisecond, Logger: log}
	var specs []simnode.Spec
	var guids []sm.GUID
	for i, h := range cfg.Fabric.Hosts() {
		g := sm.GUID(ibsim.HostPortGUID(i + 1))
		cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h, Ports: []sm.GUID{g}})
		specs = append(specs, simnode.Spec{Name: h.Name, Ports: []sm.GUID{g}})
		guids = append(guids, g)
	}
	if root == "" {
		root = filepath.Join(dir, "nodes")
	}
	fleet, err := simnode.NewFleet(simnode.Config{Root: root, Servers: []string{cfg.AgentListen},
		GossipSeeds: []string{cfg.GossipBind}, GossipProbeInterval: 200 * time.Millisecond, GossipProbeTimeout: 100 * time.Millisecond,
		Logger: log}, specs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SM = &simnode.Mirror{Driver: simsm.New(guids, sm.TenantIsolation), Nodes: fleet, Ports: fleet.Ports(), Log: log}
	pin := simnode.Pin()
	cfg.FirmwarePins = []control.FirmwarePin{{PSID: pin.PSID, Version: pin.Version, SHA256: pin.SHA256, File: pin.File}}

	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cl, err := client.New(srv.Addr(), srv.AdminToken, client.WithCAPin(srv.CAPin()))
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(fleet)
	}
	fleet.Start(ctx, simnode.AdminAPI{Client: cl})
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			fleet.Wait()
			cl.Close()
			srv.Stop()
		})
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := fleet.WaitEnrolled(wctx); err != nil {
		t.Fatal(err)
	}
	return &simCluster{srv: srv, fleet: fleet, cl: cl, ctx: cl.Context(context.Background()), stop: stop}
}

func (c *simCluster) detail(t *testing.T, node string) *pb.NodeDetailResponse {
	t.Helper()
	d, err := c.cl.Fleet.NodeDetail(c.ctx, &pb.NodeDetailRequest{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitReadyAndConnected waits until every node's agent holds a stream to
// the server and every node is ready (its first cleaning done).
func (c *simCluster) waitReadyAndConnected(t *testing.T) {
	t.Helper()
	testutil.WaitFor(t, "every node ready with its agent connected", 30*time.Second, func() bool {
		for _, n := range c.fleet.Nodes {
			d := c.detail(t, n.Name)
			if d.Agent != "connected" || d.Node.State != "ready" {
				return false
			}
		}
		return true
	})
}

// ledgerSteps lists the node's ledger entries for job (step:ok).
func ledgerSteps(d *pb.NodeDetailResponse, job uint64) []string {
	var out []string
	for _, e := range d.Ledger {
		if e.JobId == job {
			out = append(out, e.Step+":"+strconv.FormatBool(e.Ok))
		}
	}
	return out
}

// TestSimulatedNodesRunTheAgentPath: every simulated node enrolls with a
// join token, connects over mutual TLS, reports the HCA port GUIDs of its
// fake sysfs (the fabric's), and is cleaned by agent tasks before it is
// ready. A job runs; while it does, the nodes' sysfs P_Key tables hold its
// key as the SM reports it, and afterwards each node is cleaned again by
// its agent (erase and firmware in the ledger, with the job's id) and the
// key is gone from sysfs.
func TestSimulatedNodesRunTheAgentPath(t *testing.T) {
	c := startSimCluster(t, 3, "")
	c.waitReadyAndConnected(t)

	for i, n := range c.fleet.Nodes {
		d := c.detail(t, n.Name)
		if got := ledgerSteps(d, 0); strings.Join(got, ",") != "enroll:true,erase:true,firmware:true,cleaned:true" {
			t.Errorf("%s: first ledger %v, want enroll, erase, firmware, cleaned", n.Name, got)
		}
		inv := d.Inventory
		want := hca.GUID(ibsim.HostPortGUID(i + 1)).Hex()
		if inv == nil || len(inv.Hcas) != 1 || len(inv.Hcas[0].Ports) != 1 || inv.Hcas[0].Ports[0].Guid != want {
			t.Errorf("%s: inventory %v, want one HCA port %s", n.Name, inv, want)
		}
		if n.RunningFirmware() != simnode.PinnedFirmware {
			t.Errorf("%s runs firmware %s after cleaning, want the pinned %s", n.Name, n.RunningFirmware(), simnode.PinnedFirmware)
		}
	}

	r, err := c.cl.Jobs.Submit(c.ctx, &pb.SubmitRequest{NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Script: "#!/bin/sh\nsleep 1\n", Name: "hold"})
	if err != nil {
		t.Fatal(err)
	}
	var job *pb.Job
	testutil.WaitFor(t, "the job to run", 20*time.Second, func() bool {
		job, err = c.cl.Jobs.Get(c.ctx, &pb.GetJobRequest{JobId: r.JobId})
		return err == nil && job.State == "running"
	})
	if job.Pkey == 0 {
		t.Fatal("the job has no partition key")
	}
	full := "0x" + strconv.FormatUint(uint64(job.Pkey|0x8000), 16)
	for _, name := range job.Nodes {
		if got := sysfsKeys(t, c.fleet.Node(name)); !strings.Contains(got, full) {
			t.Errorf("%s: sysfs P_Keys %s while the job runs, want %s", name, got, full)
		}
	}
	testutil.WaitFor(t, "the job to complete", 20*time.Second, func() bool {
		job, err = c.cl.Jobs.Get(c.ctx, &pb.GetJobRequest{JobId: r.JobId})
		return err == nil && job.State == "completed"
	})
	c.waitReadyAndConnected(t)
	for _, name := range job.Nodes {
		d := c.detail(t, name)
		if got := strings.Join(ledgerSteps(d, r.JobId), ","); got != "partition:true,stop:true,erase:true,firmware:true,cleaned:true" {
			t.Errorf("%s: ledger of job %d %q, want the partition confirmed, then stop, erase, firmware, cleaned by the agent", name, r.JobId, got)
		}
		// Custody passed right after the hand-out check: it is the last
		// entry before the job's first.
		for i, e := range d.Ledger {
			if e.JobId == r.JobId {
				if i == 0 || d.Ledger[i-1].Step != "handout-check" || !d.Ledger[i-1].Ok {
					t.Errorf("%s: the entry before job %d's is not a passed hand-out check: %+v", name, r.JobId, d.Ledger[max(i-1, 0)])
				} else if ev := d.Ledger[i-1].Evidence; !strings.Contains(ev, "every reading") || !strings.Contains(ev, "only the limited default") {
					t.Errorf("%s: hand-out check evidence %s", name, ev)
				}
				break
			}
		}
		for _, e := range d.Ledger {
			if e.JobId == r.JobId && e.Step == "erase" {
				// The agent's JSON, then the server's check of the answer.
				var ev struct{ Method string }
				if json.NewDecoder(strings.NewReader(e.Evidence)).Decode(&ev) != nil || ev.Method != "overwrite" || !strings.Contains(e.Evidence, "server check of the leader's challenge") {
					t.Errorf("%s: erase evidence %s, want the overwrite eraser's", name, e.Evidence)
				}
			}
		}
		if got := sysfsKeys(t, c.fleet.Node(name)); strings.Contains(got, full) {
			t.Errorf("%s: sysfs P_Keys %s after cleaning still hold the job's key", name, got)
		}
	}
}

// sysfsKeys is a node's port-1 P_Key slots, comma-separated.
func sysfsKeys(t *testing.T, n *simnode.Node) string {
	t.Helper()
	dir := filepath.Join(n.SysfsRoot, hca.ClassDir, simnode.HCAName, "ports", "1", "pkeys")
	var out []string
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)))
		if os.IsNotExist(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimSpace(string(b)))
	}
	return strings.Join(out, ",")
}

// TestSimulatedNodesSurviveAServerReset: nodes enrolled with a cluster
// whose state is gone (a new data dir, the same node directories) enroll
// again as new machines instead of presenting certificates the new CA
// refuses; nodes whose cluster still knows them (a restart) keep their
// certificate.
func TestSimulatedNodesSurviveAServerReset(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nodes")
	c := startSimCluster(t, 2, root)
	c.waitReadyAndConnected(t)
	first := certOf(t, c.fleet.Nodes[0])
	c.stop()

	c = startSimCluster(t, 2, root)
	c.waitReadyAndConnected(t)
	if certOf(t, c.fleet.Nodes[0]) == first {
		t.Fatal("the node kept the certificate of a cluster that no longer exists")
	}
	if got := ledgerSteps(c.detail(t, c.fleet.Nodes[0].Name), 0); len(got) == 0 || got[0] != "enroll:true" {
		t.Fatalf("ledger %v, want a new enrollment", got)
	}
}

func certOf(t *testing.T, n *simnode.Node) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.AgentDir, "node.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
