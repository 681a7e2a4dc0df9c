package agent

import (
	"crypto/rand"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/ibex-hpc/ibex/internal/testutil"
)

// restartableServer is ibexd's gossip member ("server:s1") at a fixed
// port, so it can die (no leave, as on kill -9) and come back at the same
// address knowing nobody.
type restartableServer struct {
	t    *testing.T
	key  []byte
	port int
	ml   *memberlist.Memberlist
}

func (s *restartableServer) start() {
	s.t.Helper()
	c := memberlist.DefaultLANConfig()
	c.Name = "server:s1"
	c.BindAddr, c.BindPort, c.AdvertisePort = "127.0.0.1", s.port, s.port
	c.ProbeInterval, c.ProbeTimeout = 100*time.Millisecond, 50*time.Millisecond
	c.SecretKey = s.key
	c.LogOutput = io.Discard
	var err error
	for i := 0; i < 50; i++ { // the old member's port may linger a moment
		if s.ml, err = memberlist.Create(c); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.port = int(s.ml.LocalNode().Port)
}

func (s *restartableServer) kill9() { s.ml.Shutdown() }

func (s *restartableServer) sees(want ...string) bool {
	got := names(s.ml)
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func agentMember(t *testing.T, name, seed string, key []byte) *Gossip {
	g, err := StartGossip(GossipConfig{Name: name, Bind: "127.0.0.1:0", Key: key, Seeds: []string{seed},
		ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 50 * time.Millisecond, RejoinInterval: 200 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crash(g) })
	return g
}

// TestAgentsRejoinARestartedServer: after the server's gossip member dies
// and comes back knowing only itself, the agents (still a pool among
// themselves) join it again: on their own once they have declared it
// dead, and at once when their stream reconnects (RequestJoin) if it came
// back before that.
func TestAgentsRejoinARestartedServer(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	srv := &restartableServer{t: t, key: key}
	srv.start()
	defer func() { srv.kill9() }()
	seed := memberAddr(srv.ml)
	a1 := agentMember(t, "node001", seed, key)
	a2 := agentMember(t, "node002", seed, key)
	testutil.WaitFor(t, "the server sees both agents", 20*time.Second, func() bool { return srv.sees("node001", "node002") })

	// Down long enough for the agents to declare it dead.
	srv.kill9()
	testutil.WaitFor(t, "the agents to see no server", 10*time.Second, func() bool { return !a1.seesServer() && !a2.seesServer() })
	srv.start()
	testutil.WaitFor(t, "the restarted server to see both agents again", 20*time.Second, func() bool { return srv.sees("node001", "node002") })

	// Back before anyone noticed: only the reconnect's RequestJoin helps
	// (push-pull would take up to 30 s).
	srv.kill9()
	srv.start()
	if !a1.seesServer() {
		t.Skip("the agents noticed the quick restart after all; the case above covers it")
	}
	a1.RequestJoin()
	testutil.WaitFor(t, "the quickly restarted server to see both agents", 20*time.Second, func() bool { return srv.sees("node001", "node002") })
}
