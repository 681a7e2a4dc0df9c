package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ibex-hpc/ibex/client"
	"github.com/ibex-hpc/ibex/fabric/ibnet"
	pb "github.com/ibex-hpc/ibex/proto/ibexv1"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// TestLargeImportThroughRaft: a 12,000-host dump (about 5 MB, more than
// one gRPC message) imported through a follower of three real raft
// servers (TLS, the follower piping the stream to the leader) reaches
// every server's state; each server snapshots it; the leader's dashboard
// still answers. It prints how long the import took to be applied
// everywhere, the snapshots' sizes and the dashboard overview's.
func TestLargeImportThroughRaft(t *testing.T) {
	if testing.Short() {
		t.Skip("three servers and a 5 MB import")
	}
	// Applying 12,000 nodes keeps a loaded machine busy (under -race,
	// seconds): timeouts that tolerate it, so leadership stays put.
	tr := startTrio(t, func(c *Config) {
		c.HTTPListen = "127.0.0.1:0"
		c.HeartbeatTimeout, c.ElectionTimeout = 3*time.Second, 3*time.Second
	})
	lead := tr.leader(t)
	via := (lead + 1) % 3
	var buf bytes.Buffer
	if err := ibnet.GenerateFatTree(&buf, ibnet.FatTreeConfig{Pods: 10, LeavesPerPod: 30, SpinesPerPod: 20, Cores: 40,
		HostsPerLeaf: 40, SwitchPorts: 64, SHARP: true}); err != nil {
		t.Fatal(err)
	}
	dump := buf.String()
	s := tr.servers[via]
	cl, err := client.New(s.Addr(), tr.servers[lead].AdminToken, client.WithCAPin(s.CAPin()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	sum, err := cl.ImportTopology(ctx, &pb.ImportTopologyRequest{Text: dump})
	if err != nil || sum.Hosts != 12000 {
		t.Fatalf("import through follower %s: %v", s.cfg.NodeID, err)
	}
	committed := time.Since(start)
	for i, s := range tr.servers {
		for {
			var text string
			var nodes int
			s.fsm.Read(func(st *fsm.State) { text, nodes = st.Topology.Text, len(st.Nodes) })
			if text == dump && nodes == 12002 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("server %d: topology of %d bytes, %d nodes", i, len(text), nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	everywhere := time.Since(start)
	var sizes []int64
	for _, s := range tr.servers {
		if err := s.cluster.Snapshot(); err != nil {
			t.Fatal(err)
		}
		snaps, _ := filepath.Glob(filepath.Join(s.cfg.DataDir, "raft", "snapshots", "*", "state.bin"))
		var newest int64 // the state as written, before the snapshot's compression
		for _, p := range snaps {
			if b, err := os.ReadFile(p); err == nil {
				if body, err := fsm.SnapshotBody(bytes.NewReader(b)); err == nil && int64(len(body)) > newest {
					newest = int64(len(body))
				}
			}
		}
		sizes = append(sizes, newest)
		if newest < int64(len(dump)) {
			t.Fatalf("server %s's snapshot is %d bytes, smaller than the dump", s.cfg.NodeID, newest)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+tr.servers[lead].httpLis.Addr().String()+"/api/v1/overview", nil)
	req.Header.Set("Authorization", "Bearer "+tr.servers[lead].AdminToken)
	start = time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard overview: %d", resp.StatusCode)
	}
	t.Logf("12,000-host dump of %d bytes: committed in %v, applied on all 3 servers in %v; snapshots %v bytes; dashboard overview %d bytes in %v",
		len(dump), committed.Round(time.Millisecond), everywhere.Round(time.Millisecond), sizes, len(body), time.Since(start).Round(time.Millisecond))
}
