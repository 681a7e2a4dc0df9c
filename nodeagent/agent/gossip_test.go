package agent

import (
	"crypto/rand"
	"io"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/ibex-hpc/ibex/internal/testutil"
)

// gossipServer is a memberlist member standing in for ibexd, with the
// fast probe settings the agents use in the test.
func gossipServer(t *testing.T, key []byte) (*memberlist.Memberlist, chan memberlist.NodeEvent) {
	t.Helper()
	events := make(chan memberlist.NodeEvent, 64)
	c := memberlist.DefaultLANConfig()
	c.Name = "ibexd-1"
	c.BindAddr, c.BindPort, c.AdvertisePort = "127.0.0.1", 0, 0
	c.ProbeInterval, c.ProbeTimeout = 100*time.Millisecond, 50*time.Millisecond
	c.SecretKey = key
	c.Events = &memberlist.ChannelEventDelegate{Ch: events}
	c.LogOutput = io.Discard
	ml, err := memberlist.Create(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	return ml, events
}

func memberAddr(ml *memberlist.Memberlist) string {
	n := ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// waitLeave waits for the server to report node gone. (memberlist v0.7.0
// does not set Node.State in NotifyLeave, so left and dead look alike
// there; the tests tell them apart by what caused them.)
func waitLeave(t *testing.T, events chan memberlist.NodeEvent, node string, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-events:
			if ev.Event == memberlist.NodeLeave && ev.Node.Name == node {
				return
			}
		case <-timeout:
			t.Fatalf("server did not see %s go within %v", node, d)
		}
	}
}

// crash stops a member the way a dying node does: no leave message.
func crash(g *Gossip) {
	g.once.Do(func() {
		close(g.stop)
		g.done.Wait()
		g.ml.Shutdown()
	})
}

func names(ml *memberlist.Memberlist) []string {
	var out []string
	for _, m := range ml.Members() {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

func TestGossipMembershipLeaveAndFailure(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	srv, events := gossipServer(t, key)

	// Agent 1 runs in full: the key and seed come from enrollment.
	ca := newTestCA(t)
	fs := startFakeServer(t, ca, fakeOpts{})
	fs.gossipKey, fs.gossipSeeds = key, []string{memberAddr(srv)}
	env := newTestEnv(t)
	a := env.agent(t, []string{fs.addr}, fs.token, ca.pin())
	a.Config.NoGossip = false
	a.Config.GossipBind = "127.0.0.1:0"
	a.Config.GossipProbeInterval, a.Config.GossipProbeTimeout = 100*time.Millisecond, 50*time.Millisecond
	stopA := run(t, a)

	// Agent 2 is just the gossip member.
	g2, err := StartGossip(GossipConfig{
		Name: "node002", Bind: "127.0.0.1:0", Key: key, Seeds: []string{memberAddr(srv)},
		ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 50 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g2.Stop(time.Second) })

	want := []string{"ibexd-1", "node001", "node002"}
	testutil.WaitFor(t, "server sees both agents", 5*time.Second, func() bool { return slices.Equal(names(srv), want) })
	testutil.WaitFor(t, "agents see each other", 5*time.Second, func() bool {
		m := g2.Members()
		slices.Sort(m)
		return slices.Equal(m, want)
	})

	// A member with the wrong key cannot join.
	bad := make([]byte, 32)
	rand.Read(bad)
	g3, err := StartGossip(GossipConfig{Name: "intruder", Bind: "127.0.0.1:0", Key: bad, Seeds: []string{memberAddr(srv)}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer g3.Stop(time.Second)
	if g3.ml.NumMembers() != 1 || srv.NumMembers() != 3 || slices.Contains(names(srv), "intruder") {
		t.Fatalf("members after an intruder tried: %v", names(srv))
	}

	// Stopping the agent leaves gracefully: the server hears at once.
	start := time.Now()
	stopA()
	waitLeave(t, events, "node001", 3*time.Second)
	t.Logf("graceful leave seen after %v", time.Since(start))

	// A crash (no leave) is detected by probing, within a few probe
	// intervals (suspicion is 4 intervals at this size).
	start = time.Now()
	crash(g2)
	waitLeave(t, events, "node002", 5*time.Second)
	t.Logf("failure detected after %v", time.Since(start))
}

func TestGossipRefusesNoKey(t *testing.T) {
	if _, err := StartGossip(GossipConfig{Name: "n", Bind: "127.0.0.1:0"}); err == nil {
		t.Fatal("gossip without a key started")
	}
}

// rejoinEvents owes a join when a server member seen dead or gone is
// alive again, not at its first appearance nor for agents, and passes
// every event on.
func TestRejoinEventsOweAJoinWhenAServerComesBack(t *testing.T) {
	next := &countingEvents{}
	e := &rejoinEvents{prefix: "server:", next: next, gone: map[string]bool{}}
	g := &Gossip{}
	e.request.Store(g)
	srv, agent := &memberlist.Node{Name: "server:s1"}, &memberlist.Node{Name: "node002"}
	e.NotifyJoin(srv)
	e.NotifyJoin(agent)
	e.NotifyLeave(agent)
	e.NotifyJoin(agent)
	if g.owed.Load() {
		t.Fatal("a join owed without a server coming back")
	}
	e.NotifyLeave(srv)
	e.NotifyUpdate(srv)
	e.NotifyJoin(srv)
	if !g.owed.Load() {
		t.Fatal("no join owed when the server came back")
	}
	if next.joins != 4 || next.leaves != 2 || next.updates != 1 {
		t.Fatalf("passed on %+v", next)
	}
}

type countingEvents struct{ joins, leaves, updates int }

func (c *countingEvents) NotifyJoin(*memberlist.Node)   { c.joins++ }
func (c *countingEvents) NotifyLeave(*memberlist.Node)  { c.leaves++ }
func (c *countingEvents) NotifyUpdate(*memberlist.Node) { c.updates++ }
