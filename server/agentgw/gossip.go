package agentgw

import (
	"context"
	"encoding/base64"
	"io"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/ibex-hpc/ibex/server/pki"

	"github.com/hashicorp/memberlist"
)

// Agents and servers gossip in one encrypted memberlist pool; the leader
// reads the live membership (Alive) and decides what goes into raft (node
// down / up), so gossip only ever feeds a reconcile loop, never the state.

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
func (a *Gateway) startGossip(ctx context.Context) {
	if a.cfg.GossipBind == "" {
		return
	}
	go func() {
		if _, err := pki.Wait(ctx, a.cfg.Store); err != nil {
			if ctx.Err() == nil {
				a.cfg.Log.Error("gossip: cannot open the cluster's gossip key", "err", err)
			}
			return
		}
		sec, err := a.cfg.Store.ClusterSecrets()
		if err != nil {
			a.cfg.Log.Error("gossip key", "err", err)
			return
		}
		key, err := base64.StdEncoding.DecodeString(sec.GossipKey)
		if err != nil {
			a.cfg.Log.Error("gossip key", "err", err)
			return
		}
		host, port, err := net.SplitHostPort(a.cfg.GossipBind)
		if err != nil {
			a.cfg.Log.Error("gossip bind", "err", err)
			return
		}
		p, _ := strconv.Atoi(port)
		conf := memberlist.DefaultLANConfig()
		conf.Name = "server:" + a.cfg.NodeID
		conf.BindAddr, conf.BindPort = host, p
		conf.AdvertiseAddr, conf.AdvertisePort = host, p
		conf.SecretKey = key
		conf.EnableCompression = false // as the agents' (agent.StartGossip): per-packet LZW tables cost more than they save
		conf.ProbeInterval = a.cfg.Gossip.ProbeInterval
		conf.ProbeTimeout = a.cfg.Gossip.ProbeTimeout
		conf.SuspicionMult = a.cfg.Gossip.SuspicionMult
		conf.GossipInterval = 100 * time.Millisecond
		// A restarted agent rejoins under its dead predecessor's name at
		// a new address (see agent.DeadNodeReclaimTime).
		conf.DeadNodeReclaimTime = time.Second
		conf.Logger = log.New(io.Discard, "", 0)
		ml, err := memberlist.Create(conf)
		if err != nil {
			a.cfg.Log.Error("gossip start", "err", err)
			return
		}
		if seeds := a.GossipSeeds(); len(seeds) > 0 {
			ml.Join(seeds)
		}
		a.gossipMu.Lock()
		a.gossip = ml
		a.gossipMu.Unlock()
		a.cfg.Log.Info("gossip up", "addr", ml.LocalNode().Address())
	}()
}

// GossipSeeds are the servers' gossip addresses, from the config.
func (a *Gateway) GossipSeeds() []string {
	seeds := append([]string(nil), a.cfg.GossipSeeds...)
	if a.cfg.GossipBind != "" {
		seeds = append(seeds, a.cfg.GossipBind)
	}
	return seeds
}

// Alive lists the gossip members alive now, or ok=false before this
// server joined the pool.
func (a *Gateway) Alive() (map[string]bool, bool) {
	a.gossipMu.Lock()
	ml := a.gossip
	a.gossipMu.Unlock()
	if ml == nil {
		return nil, false
	}
	alive := map[string]bool{}
	for _, m := range ml.Members() {
		alive[m.Name] = true
	}
	return alive, true
}
