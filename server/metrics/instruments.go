package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Instruments are what only the running server can measure (durations and
// its own actions), as opposed to what is read from the replicated state.
// They are leader-local: a new leader starts them from zero, which
// Prometheus reads as a counter reset.
type Instruments struct {
	SchedulingPass     prometheus.Histogram
	RaftApply          prometheus.Histogram
	PartitionReconfigs prometheus.Counter
}

// NewInstruments returns unregistered instruments.
func NewInstruments() *Instruments {
	return &Instruments{
		SchedulingPass: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ibex_scheduling_pass_duration_seconds",
			Help:    "Duration of one scheduling pass of the leader's controller (plan computed and committed).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		RaftApply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ibex_raft_apply_duration_seconds",
			Help:    "Time from proposing a command to raft until it is committed and applied, as this server saw it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		PartitionReconfigs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ibex_partition_reconfigurations_total",
			Help: "Subnet-manager applies that changed the desired partitions (many allocations coalesce into one).",
		}),
	}
}

func (i *Instruments) collectors() []prometheus.Collector {
	return []prometheus.Collector{i.SchedulingPass, i.RaftApply, i.PartitionReconfigs}
}

// linksCollector exports link health when the source monitors the fabric.
type linksCollector struct {
	src  LinkReporter
	desc *prometheus.Desc
}

// LinkReporter is implemented by sources that monitor fabric links.
type LinkReporter interface {
	// LinkHealth counts links by health ("healthy", "degraded", "down");
	// ok is false when the fabric is not monitored.
	LinkHealth() (counts map[string]int, ok bool)
}

func (c *linksCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *linksCollector) Collect(ch chan<- prometheus.Metric) {
	counts, ok := c.src.LinkHealth()
	if !ok {
		return
	}
	for _, h := range []string{"healthy", "degraded", "down"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[h]), h)
	}
}
