package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHAPartitions runs three servers on three network namespaces and cuts
// real links: first a follower (the majority carries on), then the leader
// (it must stop taking writes; the majority elects a new one). After each
// heal every server converges and no acknowledged job is lost.
func TestHAPartitions(t *testing.T) {
	tn := newTestNet(t, 3)
	h := startHAOn(t, 3, tn.hosts)
	hostOf := map[*haServer]*testHost{}
	for i, s := range h.servers {
		hostOf[s] = tn.hosts[i]
	}
	c := h.client()
	var sub submitter
	ctx, cancel := context.WithCancel(context.Background())
	wg := sub.run(ctx, c, 3)

	// Minority partition: one follower.
	lead := h.leader()
	var follower *haServer
	for _, s := range h.servers {
		if s != lead {
			follower = s
			break
		}
	}
	tn.cut(hostOf[follower])
	before := len(sub.ackedSnapshot())
	time.Sleep(2 * time.Second)
	if after := len(sub.ackedSnapshot()); after <= before {
		t.Fatalf("majority stopped taking writes while a follower was cut (%d -> %d)", before, after)
	}
	tn.heal(hostOf[follower])
	h.waitConverged()

	// Majority partition: the leader alone on one side.
	lead = h.leader()
	tn.cut(hostOf[lead])
	// A client on the isolated leader's own host can still reach it; its
	// writes must not be acknowledged without a quorum.
	out, err := isolatedSubmit(h, lead)
	if err == nil {
		t.Fatalf("isolated leader acknowledged a write: %s", out)
	}
	newLead := waitLeaderAmong(t, h, lead)
	t.Logf("isolated %s; %s leads the majority", lead.id, newLead.id)
	before = len(sub.ackedSnapshot())
	time.Sleep(2 * time.Second)
	if after := len(sub.ackedSnapshot()); after <= before {
		t.Fatalf("majority did not take writes after the leader was cut (%d -> %d)", before, after)
	}
	tn.heal(hostOf[lead])
	cancel()
	wg.Wait()
	h.waitConverged()
	sub.checkAllPresent(t, h.client())
	h.checkNoDoubleAllocation(c)
	for _, s := range h.servers {
		h.kill(s, syscall.SIGTERM)
	}
}

// isolatedSubmit runs the CLI inside the server's namespace against it alone.
func isolatedSubmit(h *haCluster, s *haServer) (string, error) {
	cmd := exec.Command("ip", "netns", "exec", s.netns, filepath.Join(binDir, "ibex"), "--addr", s.api, "--token", h.token,
		"--timeout", "4s", "submit", "-N", "1", "-t", "1m", "--", "true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitLeaderAmong waits for a leader other than not among reachable servers.
func waitLeaderAmong(t *testing.T, h *haCluster, not *haServer) *haServer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range h.servers {
			if s == not {
				continue
			}
			if st, err := h.local(s); err == nil && st.Leader {
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
