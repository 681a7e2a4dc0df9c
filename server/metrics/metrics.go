package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Source is what the metrics read from ibexd; *server.Server implements it.
type Source interface {
	// Read runs fn on the live state under its read lock.
	Read(fn func(*fsm.State))
	// RaftStats returns hashicorp/raft's Stats map (string values).
	RaftStats() map[string]string
}

// NewRegistry returns a registry with ibex's collectors and the Go runtime
// and process collectors.
// ins, if not nil, are the server's own instruments; without them the
// same series are exported empty. A source that implements LinkReporter
// adds ibex_links.
func NewRegistry(src Source, ins ...*Instruments) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newStateCollector(src),
		newRaftCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	in := NewInstruments()
	if len(ins) > 0 && ins[0] != nil {
		in = ins[0]
	}
	reg.MustRegister(in.collectors()...)
	if lr, ok := src.(LinkReporter); ok {
		reg.MustRegister(&linksCollector{src: lr, desc: prometheus.NewDesc("ibex_links", "Fabric links by health, from port state and error counters.", []string{"health"}, nil)})
	}
	return reg
}

// Handler serves reg in the Prometheus exposition formats.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A collector that fails should cost its own series, not the scrape.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // promhttp_metric_handler_* about the handler itself
	})
}
