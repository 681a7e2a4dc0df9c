package main

import (
	"time"

	"github.com/ibex-hpc/ibex/server/agentgw"
)

// Gossip of a large simulated fleet. Every simulated agent is a memberlist
// member in this one process, so the fleet's gossip costs ibexd N times a
// member's: with the fixed timings above, 512 agents on a 2-core machine
// left the process CPU-starved (the agents' gossip queues overflowed,
// probes timed out, streams broke, nodes were declared down and stayed
// cleaning: no node ready after 4 minutes, the API unanswered). Beyond
// simScaleFrom agents the timings stretch with the fleet, so its gossip
// costs about what simScaleFrom agents cost; failure detection of a
// simulated node is that much slower (512 agents: a dead agent is declared
// dead after about 2 minutes instead of 15 s), which a simulation can
// afford. The server's member probes the N agents too, and is scaled
// alike unless --gossip-probe-interval is given.
const simScaleFrom = 64

// simScale is the factor for a fleet of n agents: 1 up to simScaleFrom.
func simScale(n int) time.Duration {
	return time.Duration(max(1, (n+simScaleFrom-1)/simScaleFrom))
}

// simGossipTimings are the agents' probe interval, probe timeout and
// gossip interval for a fleet of n. The timeout grows less than the
// intervals (a probe's answer waits for a busy process, not for the
// fleet), at most 2 s.
func simGossipTimings(n int) (probe, timeout, gossip time.Duration) {
	k := simScale(n)
	return k * simProbeInterval, min(k*simProbeTimeout, 2*time.Second), k * simGossipInterval
}

// simServerGossip scales the server member's timings t for a fleet of n.
func simServerGossip(t agentgw.GossipTimings, n int) agentgw.GossipTimings {
	k := simScale(n)
	t.ProbeInterval *= k
	t.ProbeTimeout = min(t.ProbeTimeout*k, 2*time.Second)
	return t
}
