package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/internal/testcluster"
)

// TestHAPartitions runs three servers on three network namespaces and cuts
// real links: first a follower (the majority carries on), then the leader
// (it must stop taking writes; the majority elects a new one). After each
// heal every server converges and no acknowledged job is lost.
func TestHAPartitions(t *testing.T) {
	tn := testcluster.NewNet(t, 3)
	h := testcluster.Start(t, binDir, 3, tn.Hosts)
	hostOf := map[*testcluster.Server]*testcluster.Host{}
	for i, s := range h.Servers {
		hostOf[s] = tn.Hosts[i]
	}
	c := h.Client()
	sub := submitter{pause: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	wg := sub.run(ctx, c, 3)

	// Minority partition: one follower.
	lead := h.Leader()
	var follower *testcluster.Server
	for _, s := range h.Servers {
		if s != lead {
			follower = s
			break
		}
	}
	tn.Cut(hostOf[follower])
	before := len(sub.ackedSnapshot())
	// Clients that were talking to the cut server fail over after their
	// per-try timeout (3 s), so give them longer than that.
	time.Sleep(5 * time.Second)
	if after := len(sub.ackedSnapshot()); after <= before {
		t.Fatalf("majority stopped taking writes while a follower was cut (%d -> %d)", before, after)
	}
	tn.Heal(hostOf[follower])
	h.WaitCaughtUp(follower)

	// Majority partition: the leader alone on one side.
	lead = h.Leader()
	tn.Cut(hostOf[lead])
	// A client on the isolated leader's own host can still reach it; its
	// writes must not be acknowledged without a quorum.
	out, err := isolatedSubmit(h, lead)
	if err == nil {
		t.Fatalf("isolated leader acknowledged a write: %s", out)
	}
	newLead := waitLeaderAmong(t, h, lead)
	t.Logf("isolated %s; %s leads the majority", lead.ID, newLead.ID)
	before = len(sub.ackedSnapshot())
	time.Sleep(5 * time.Second)
	if after := len(sub.ackedSnapshot()); after <= before {
		t.Fatalf("majority did not take writes after the leader was cut (%d -> %d)", before, after)
	}
	tn.Heal(hostOf[lead])
	cancel()
	wg.Wait()
	h.WaitConverged()
	sub.checkAllPresent(t, h.Client())
	h.CheckNoDoubleAllocation(c)
	for _, s := range h.Servers {
		h.Kill(s, syscall.SIGTERM)
	}
}

// isolatedSubmit runs the CLI inside the server's namespace against it alone.
func isolatedSubmit(h *testcluster.Cluster, s *testcluster.Server) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", s.Netns, filepath.Join(binDir, "ibex"), "--addr", s.API, "--token", h.Token,
		"--timeout", "4s", "submit", "-N", "1", "-t", "1m", "--", "true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitLeaderAmong waits for a leader other than not among reachable servers.
func waitLeaderAmong(t *testing.T, h *testcluster.Cluster, not *testcluster.Server) *testcluster.Server {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range h.Servers {
			if s == not {
				continue
			}
			if st, err := h.Local(s); err == nil && st.Leader {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("majority elected no leader")
	return nil
}

func (s *submitter) ackedSnapshot() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.acked...)
}
