package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// GossipConfig configures a node's membership in the cluster's gossip
// pool. ibexd's servers are members of the same pool; they learn from it
// within seconds that a node died or left, long before a stream timeout
// or a missed heartbeat would tell them.
type GossipConfig struct {
	// Name is the member name: the ibex node name, so servers map members
	// to nodes without a lookup.
	Name string
	// Bind is host:port (port 0: any free port, UDP and TCP alike);
	// Advertise, if set, is the host:port others should use.
	Bind      string
	Advertise string
	// Key is the keyring's primary key from enrollment (16, 24 or 32
	// bytes): gossip is encrypted and authenticated, so only enrolled
	// nodes and the servers can join or forge membership messages.
	Key []byte
	// Seeds are the servers' gossip addresses to join.
	Seeds []string
	// ProbeInterval and ProbeTimeout tune failure detection (memberlist
	// LAN defaults: 1s and 500ms); a member is declared dead after about
	// SuspicionMult (4) probe intervals of silence.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// GossipInterval, if set, replaces memberlist's 200ms between gossip
	// rounds.
	GossipInterval time.Duration
	// RejoinInterval is how often a member that sees no server (or owes a
	// join, see RequestJoin) tries the seeds again (default
	// DefaultRejoinInterval): a restarted server knows only its seeds,
	// and agents that still gossip among themselves would otherwise
	// never tell it they exist (gossip_rejoin.go).
	RejoinInterval time.Duration
	// ServerPrefix marks the servers' member names (default "server:",
	// agentgw's).
	ServerPrefix string
	// Events, if set, receives join/leave/update notifications.
	Events memberlist.EventDelegate
	Logger *slog.Logger
}

// Gossip is a running membership.
type Gossip struct {
	ml   *memberlist.Memberlist
	cfg  GossipConfig
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
	owed atomic.Bool   // a join was asked for and has not succeeded
	poke chan struct{} // wakes the rejoin loop for RequestJoin
}

// StartGossip creates the member and joins the seeds. A failed join is
// not an error: the seeds may not be up yet, and the member keeps trying
// every RejoinInterval.
func StartGossip(cfg GossipConfig) (*Gossip, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RejoinInterval <= 0 {
		cfg.RejoinInterval = DefaultRejoinInterval
	}
	if cfg.ServerPrefix == "" {
		cfg.ServerPrefix = "server:"
	}
	c := memberlist.DefaultLANConfig()
	c.Name = cfg.Name
	// A restarted agent (kill -9 included) comes back under its node's
	// name, often on a new port: the members must let it reclaim the name
	// its dead predecessor held, or they ignore it as a conflict and the
	// node stays down though its agent is back.
	c.DeadNodeReclaimTime = DeadNodeReclaimTime
	host, port, err := splitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip bind: %w", err)
	}
	c.BindAddr, c.BindPort, c.AdvertisePort = host, port, port
	if cfg.Advertise != "" {
		if c.AdvertiseAddr, c.AdvertisePort, err = splitHostPort(cfg.Advertise); err != nil {
			return nil, fmt.Errorf("gossip advertise: %w", err)
		}
	}
	if cfg.ProbeInterval > 0 {
		c.ProbeInterval = cfg.ProbeInterval
	}
	if cfg.ProbeTimeout > 0 {
		c.ProbeTimeout = cfg.ProbeTimeout
	}
	if cfg.GossipInterval > 0 {
		c.GossipInterval = cfg.GossipInterval
	}
	if len(cfg.Key) == 0 {
		return nil, errors.New("gossip: no encryption key: refusing to gossip in the clear")
	}
	c.SecretKey = cfg.Key
	// No LZW: memberlist allocates a fresh compressor per packet, and with
	// a few hundred members its tables and their garbage were the largest
	// cost of gossip (ibexd --sim-agents with 512 agents: a quarter of the
	// CPU in compressPayload, more in GC); membership packets are small
	// and a LAN does not need them smaller. Members decode both forms.
	c.EnableCompression = false
	events := &rejoinEvents{prefix: cfg.ServerPrefix, next: cfg.Events, gone: map[string]bool{}}
	c.Events = events
	c.LogOutput = nil
	c.Logger = log.New(&memberlistLog{l: cfg.Logger.With("component", "gossip")}, "", 0)
	ml, err := memberlist.Create(c)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	g := &Gossip{ml: ml, cfg: cfg, stop: make(chan struct{}), poke: make(chan struct{}, 1)}
	events.request.Store(g)
	g.join()
	g.done.Add(1)
	go g.rejoinLoop()
	return g, nil
}

func (g *Gossip) join() bool {
	if len(g.cfg.Seeds) == 0 {
		return false
	}
	n, err := g.ml.Join(g.cfg.Seeds)
	if err != nil {
		g.cfg.Logger.Warn("gossip: cannot join the seeds yet", "seeds", g.cfg.Seeds, "err", err, "retry_in", g.cfg.RejoinInterval)
		return false
	}
	g.cfg.Logger.Info("gossip: joined", "contacted", n, "members", g.ml.NumMembers())
	return true
}

// Members returns the names of the members this node believes alive.
func (g *Gossip) Members() []string {
	var out []string
	for _, m := range g.ml.Members() {
		out = append(out, m.Name)
	}
	return out
}

// Addr is the address the member advertises.
func (g *Gossip) Addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Stop leaves the pool (so servers see "left", not "failed") and shuts
// the member down. It is safe to call more than once.
func (g *Gossip) Stop(timeout time.Duration) error {
	var err error
	g.once.Do(func() {
		close(g.stop)
		g.done.Wait()
		err = g.ml.Leave(timeout)
		if serr := g.ml.Shutdown(); err == nil {
			err = serr
		}
	})
	return err
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q out of range", p)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, n, nil
}

// memberlistLog routes memberlist's "[LEVEL] memberlist: ..." lines to
// slog at the matching level.
type memberlistLog struct{ l *slog.Logger }

var _ io.Writer = (*memberlistLog)(nil)

func (w *memberlistLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			msg, level = strings.TrimSpace(rest), l
			break
		}
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}

// DeadNodeReclaimTime is how soon a dead member's name may be taken by a
// member at another address (memberlist's default, 0, never allows it).
// The servers' gossip members use the same value.
const DeadNodeReclaimTime = time.Second
