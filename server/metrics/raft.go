package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// raftGauges maps hashicorp/raft Stats keys to the series they become.
var raftGauges = []struct{ key, name, help string }{
	{"term", "ibex_raft_term", "Current raft term."},
	{"last_log_index", "ibex_raft_last_log_index", "Index of the last entry in this server's raft log."},
	{"commit_index", "ibex_raft_commit_index", "Highest raft log index known to be committed."},
	{"applied_index", "ibex_raft_applied_index", "Highest raft log index applied to the state machine."},
	{"last_snapshot_index", "ibex_raft_last_snapshot_index", "Raft log index of the latest snapshot."},
	{"fsm_pending", "ibex_raft_fsm_pending", "Committed raft entries waiting to be applied."},
	{"num_peers", "ibex_raft_peers", "Other voting servers this server knows of."},
}

// raftCollector turns raft's Stats strings into gauges at scrape time.
type raftCollector struct {
	src    Source
	leader *prometheus.Desc
	descs  []*prometheus.Desc
}

func newRaftCollector(src Source) *raftCollector {
	c := &raftCollector{src: src,
		leader: prometheus.NewDesc("ibex_raft_is_leader", "1 if this server is the raft leader, else 0.", nil, nil)}
	for _, g := range raftGauges {
		c.descs = append(c.descs, prometheus.NewDesc(g.name, g.help, nil, nil))
	}
	return c
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.leader
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.src.RaftStats()
	if state, ok := stats["state"]; ok {
		v := 0.0
		if state == "Leader" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, v)
	}
	for i, g := range raftGauges {
		// A missing or unparsable value is left out rather than reported
		// as 0, which would be a claim.
		if v, err := strconv.ParseFloat(stats[g.key], 64); err == nil {
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, v)
		}
	}
}
