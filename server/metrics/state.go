package metrics

import (
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

var (
	jobStates  = []model.JobState{model.JobPending, model.JobScheduled, model.JobRunning, model.JobCompleted, model.JobFailed, model.JobCancelled, model.JobTimeout}
	nodeStates = []model.NodeState{model.NodeReady, model.NodeAllocated, model.NodeCleaning, model.NodeQuarantined, model.NodeDown}

	// queueWaitBuckets span a dev cluster's sub-second starts to jobs that
	// wait days for a large allocation.
	queueWaitBuckets = []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 259200}
)

// stateCollector derives its series from one copy of the state per scrape.
type stateCollector struct {
	src       Source
	jobs      *prometheus.Desc
	queueWait *prometheus.Desc
	nodes     *prometheus.Desc
	drained   *prometheus.Desc
	tenants   *prometheus.Desc
	imaging   *prometheus.Desc
}

func newStateCollector(src Source) *stateCollector {
	return &stateCollector{
		src:       src,
		jobs:      prometheus.NewDesc("ibex_jobs", "Jobs in the replicated state, by job state.", []string{"state"}, nil),
		queueWait: prometheus.NewDesc("ibex_job_queue_wait_seconds", "Time from submission to start of the jobs that have started.", nil, nil),
		nodes:     prometheus.NewDesc("ibex_nodes", "Nodes by lifecycle state.", []string{"state"}, nil),
		drained:   prometheus.NewDesc("ibex_nodes_drained", "Nodes with the drain flag set.", nil, nil),
		tenants:   prometheus.NewDesc("ibex_tenants", "Tenants, the admin included.", nil, nil),
		imaging:   prometheus.NewDesc("ibex_imaging_bytes_total", "Image bytes written to nodes and verified, from the hygiene ledger (rate() gives bytes/s).", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobs, c.queueWait, c.nodes, c.drained, c.tenants, c.imaging} {
		ch <- d
	}
}

// Collect reads the state once. The queue-wait histogram is rebuilt from
// every started job rather than observed as jobs start: the state is the
// record, so the histogram survives restarts and agrees across servers.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	// Under the state's read lock only count and copy: raft's applies wait
	// for the lock, and JSON decoding and channel sends can be slow.
	jobs := map[model.JobState]int{}
	nodes := map[model.NodeState]int{}
	wait := newHistogram(queueWaitBuckets)
	var imageEvidence []string
	var drained, tenants int
	c.src.Read(func(st *fsm.State) {
		for _, j := range st.Jobs {
			jobs[j.State]++
			if !j.StartTime.IsZero() {
				wait.observe(j.StartTime.Sub(j.SubmitTime).Seconds())
			}
		}
		for _, entries := range st.Ledger {
			for _, e := range entries {
				if e.Step == string(model.TaskImage) && e.OK {
					imageEvidence = append(imageEvidence, e.Evidence)
				}
			}
		}
		for _, n := range st.Nodes {
			nodes[n.State]++
			if n.Drained {
				drained++
			}
		}
		tenants = len(st.Tenants)
	})
	for _, s := range jobStates {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(jobs[s]), string(s))
	}
	ch <- prometheus.MustNewConstHistogram(c.queueWait, wait.count, wait.sum, wait.cumulative())
	var imaged float64
	for _, text := range imageEvidence {
		var ev struct{ BytesWritten int64 }
		if json.Unmarshal([]byte(text), &ev) == nil {
			imaged += float64(ev.BytesWritten)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.imaging, prometheus.CounterValue, imaged)
	for _, s := range nodeStates {
		ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(nodes[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(c.drained, prometheus.GaugeValue, float64(drained))
	ch <- prometheus.MustNewConstMetric(c.tenants, prometheus.GaugeValue, float64(tenants))
}

// histogram accumulates observations for a const histogram.
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	if v < 0 { // clock steps between leaders; a job cannot start before it is submitted
		v = 0
	}
	h.count++
	h.sum += v
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
			return
		}
	}
}

// cumulative is the bucket map client_golang wants: upper bound → count of
// observations at or below it. +Inf is implied by the total count.
func (h *histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(h.bounds))
	var acc uint64
	for i, b := range h.bounds {
		acc += h.counts[i]
		out[b] = acc
	}
	return out
}
