package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/topology"
	"github.com/ibex-hpc/ibex/internal/testcluster"
	"github.com/ibex-hpc/ibex/internal/testutil"
	"github.com/ibex-hpc/ibex/nodeagent/localexec"
	"github.com/ibex-hpc/ibex/nodeagent/localexec/ctlexec"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
	"github.com/ibex-hpc/ibex/server/fabricview"
)

// runServer starts a server and its leader loop; stop ends both.
func runServer(t *testing.T, cfg Config) (s *Server, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	return s, func() { cancel(); <-done; s.Stop() }
}

// TestRetentionMovesFinishedJobsToTheArchive: with a tiny retention, a
// finished job and its node's older ledger entries leave the replicated
// state, and Jobs.Get and the node history still answer, also after a
// restart from a snapshot. Other tenants still cannot see the job.
func TestRetentionMovesFinishedJobsToTheArchive(t *testing.T) {
	runner, err := localexec.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir(), Bootstrap: true, Simulate: true, Exec: ctlexec.New(runner),
		Listen: testcluster.FreeAddr(t), RaftAddr: testcluster.FreeAddr(t), Fabric: topology.FatTree{Spines: 1, Leaves: 1, NodesPerLeaf: 2},
		JobRetention: 300 * time.Millisecond, ReconcileEvery: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, h := range cfg.Fabric.Hosts() {
		cfg.Hosts = append(cfg.Hosts, fabricview.Host{Host: h})
	}
	s, stop := runServer(t, cfg)
	defer func() { stop() }()
	cl, err := client.New(s.Addr(), s.AdminToken, client.WithCAPin(s.CAPin()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := cl.Context(context.Background())

	// Two jobs on both nodes, one after the other: each node is cleaned
	// twice, so its first "cleaned" entry is no longer its latest.
	var ids []uint64
	for i := 0; i < 2; i++ {
		r, err := cl.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 2, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, Name: "short"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.JobId)
		testutil.WaitFor(t, "the job to complete", 20*time.Second, func() bool {
			j, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: r.JobId})
			return err == nil && j.State == "completed"
		})
	}
	live := func(id uint64) (ok bool) {
		s.fsm.Read(func(st *fsm.State) { _, ok = st.Jobs[id] })
		return ok
	}
	testutil.WaitFor(t, "retention to archive both jobs and the first cleaning", 20*time.Second, func() bool {
		st := s.archive.Stats()
		return !live(ids[0]) && !live(ids[1]) && st.Jobs == 2 && st.LedgerEntries == 2
	})

	check := func(when string) {
		t.Helper()
		for _, id := range ids {
			j, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id})
			if err != nil || j.Id != id || j.State != "completed" || j.Name != "short" || len(j.Nodes) != 2 || !j.HasExitCode {
				t.Fatalf("%s: job %d from the archive: %v %v", when, id, j, err)
			}
		}
		d, err := cl.Fleet.NodeDetail(ctx, &pb.NodeDetailRequest{Node: "node001"})
		if err != nil {
			t.Fatal(err)
		}
		var jobs []uint64
		for _, e := range d.Ledger {
			if e.Step == "cleaned" {
				jobs = append(jobs, e.JobId)
			}
		}
		if len(jobs) != 2 || jobs[0] != ids[0] || jobs[1] != ids[1] {
			t.Fatalf("%s: node001 history has cleanings after jobs %v, want %v", when, jobs, ids)
		}
		if _, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 999}); status.Code(err) != codes.NotFound || strings.Contains(err.Error(), "snapshot") {
			t.Fatalf("%s: unknown job: %v", when, err)
		}
	}
	check("archived")

	// Another tenant does not see the archived job.
	bt, err := cl.Tenants.Create(ctx, &pb.CreateTenantRequest{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.New(s.Addr(), bt.Token, client.WithCAPin(s.CAPin()))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Jobs.Get(bob.Context(context.Background()), &pb.GetJobRequest{JobId: ids[0]}); status.Code(err) != codes.NotFound {
		t.Fatalf("bob reads admin's archived job: %v", err)
	}

	// Restart from a snapshot: the archive is reopened, the entries after
	// the snapshot are re-applied, and nothing is missing or doubled.
	if err := s.cluster.Snapshot(); err != nil {
		t.Fatal(err)
	}
	want := s.archive.Stats()
	stop()
	s, stop = runServer(t, cfg)
	cl.Close()
	if cl, err = client.New(s.Addr(), s.AdminToken, client.WithCAPin(s.CAPin())); err != nil {
		t.Fatal(err)
	}
	ctx = cl.Context(context.Background())
	if err := s.cluster.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.archive.Stats(); got.Jobs != want.Jobs || got.LedgerEntries != want.LedgerEntries || got.Gaps != 0 {
		t.Fatalf("archive after restart %+v, before %+v", got, want)
	}
	check("after restart")

	// A server without the archive of what its snapshot expired (as one
	// that caught up from a leader's snapshot) says so when a lookup misses.
	if err := s.cluster.Snapshot(); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := os.RemoveAll(filepath.Join(cfg.DataDir, "archive")); err != nil {
		t.Fatal(err)
	}
	s, stop = runServer(t, cfg)
	cl.Close()
	if cl, err = client.New(s.Addr(), s.AdminToken, client.WithCAPin(s.CAPin())); err != nil {
		t.Fatal(err)
	}
	ctx = cl.Context(context.Background())
	if _, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: ids[0]}); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "caught up from a snapshot") {
		t.Fatalf("job missing from this archive: %v", err)
	}
	if _, err := cl.Jobs.Get(ctx, &pb.GetJobRequest{JobId: 999}); status.Code(err) != codes.NotFound || strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("a job id never handed out: %v", err)
	}
	d, err := cl.Fleet.NodeDetail(ctx, &pb.NodeDetailRequest{Node: "node001"})
	if err != nil {
		t.Fatal(err)
	}
	noted := false
	for _, e := range d.Ledger {
		noted = noted || (e.Step == "archive" && strings.Contains(e.Evidence, "caught up from a snapshot"))
	}
	if !noted {
		t.Fatalf("node history does not mention the gap: %v", d.Ledger)
	}
}
