package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// gossip is this server's hashicorp/memberlist member. Agents and servers
// gossip in one encrypted pool; the leader reads the live membership and
// decides what goes into raft (node down / up), so gossip only ever
// updates a cache, never the state directly.
type gossip struct {
	s    *Server
	ml   *memberlist.Memberlist
	mu   sync.Mutex
	seen map[string]time.Time // agent nodes seen alive, and when
}

// GossipTimings tune failure detection. A killed agent is declared dead
// after roughly ProbeInterval + SuspicionMult*log10(N+1)*ProbeInterval;
// the defaults (local profile) mark a node down in about 2-4 s on a LAN.
type GossipTimings struct {
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	SuspicionMult int
}

// DefaultGossipTimings suit a LAN or loopback.
var DefaultGossipTimings = GossipTimings{ProbeInterval: 500 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond, SuspicionMult: 3}

// startGossip joins the pool once the gossip key exists.
func (s *Server) startGossip(ctx context.Context) {
	if s.cfg.GossipBind == "" {
		return
	}
	go func() {
		if _, err := s.waitCA(ctx); err != nil {
			return
		}
		key, err := base64.StdEncoding.DecodeString(s.fsm.View().Secrets.GossipKey)
		if err != nil {
			s.log.Error("gossip key", "err", err)
			return
		}
		host, port, err := net.SplitHostPort(s.cfg.GossipBind)
		if err != nil {
			s.log.Error("gossip bind", "err", err)
			return
		}
		p, _ := strconv.Atoi(port)
		conf := memberlist.DefaultLANConfig()
		conf.Name = "server:" + s.cfg.NodeID
		conf.BindAddr, conf.BindPort = host, p
		conf.AdvertiseAddr, conf.AdvertisePort = host, p
		conf.SecretKey = key
		conf.ProbeInterval = s.cfg.Gossip.ProbeInterval
		conf.ProbeTimeout = s.cfg.Gossip.ProbeTimeout
		conf.SuspicionMult = s.cfg.Gossip.SuspicionMult
		conf.GossipInterval = 100 * time.Millisecond
		conf.Logger = log.New(io.Discard, "", 0)
		ml, err := memberlist.Create(conf)
		if err != nil {
			s.log.Error("gossip start", "err", err)
			return
		}
		if seeds := s.gossipSeeds(); len(seeds) > 0 {
			ml.Join(seeds)
		}
		s.gossipMu.Lock()
		s.gossip = &gossip{s: s, ml: ml, seen: map[string]time.Time{}}
		s.gossipMu.Unlock()
		s.log.Info("gossip up", "addr", ml.LocalNode().Address())
	}()
}

// gossipSeeds are the servers' gossip addresses, from the config.
func (s *Server) gossipSeeds() []string {
	seeds := append([]string(nil), s.cfg.GossipSeeds...)
	if s.cfg.GossipBind != "" {
		seeds = append(seeds, s.cfg.GossipBind)
	}
	return seeds
}

// liveness is the leader's reconcile loop from gossip to raft: an enrolled
// agent that was alive and is no longer in the live membership is marked
// down (its job fails); one that is back is marked up (to cleaning).
func (s *Server) liveness(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.gossipMu.Lock()
		g := s.gossip
		s.gossipMu.Unlock()
		if g == nil {
			continue
		}
		alive := map[string]bool{}
		for _, m := range g.ml.Members() {
			alive[m.Name] = true
		}
		now := s.now()
		for _, n := range s.fsm.Work(0).Nodes {
			if n.Agent == nil || n.Agent.Revoked {
				continue
			}
			g.mu.Lock()
			if alive[n.Name] {
				g.seen[n.Name] = now
			}
			_, wasSeen := g.seen[n.Name]
			g.mu.Unlock()
			switch {
			case alive[n.Name] && n.State == model.NodeDown:
				if _, err := s.apply(ctx, &fsm.NodeUp{Node: n.Name, Time: now}); err != nil {
					s.log.Warn("node up", "node", n.Name, "err", err)
				}
			case !alive[n.Name] && wasSeen && n.State != model.NodeDown && n.State != model.NodeQuarantined:
				reason := fmt.Sprintf("agent left the gossip pool (last seen alive %s ago)", now.Sub(g.seen[n.Name]).Round(time.Millisecond))
				if _, err := s.apply(ctx, &fsm.NodeDown{Node: n.Name, Reason: reason, Time: now}); err != nil {
					s.log.Warn("node down", "node", n.Name, "err", err)
				} else {
					s.log.Warn("node down", "node", n.Name, "reason", reason)
				}
			}
		}
	}
}

func (g *gossip) stop() {
	g.ml.Leave(time.Second)
	g.ml.Shutdown()
}
