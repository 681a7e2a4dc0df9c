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
	// View returns a deep copy of the replicated state.
	View() *fsm.State
	// RaftStats returns hashicorp/raft's Stats map (string values).
	RaftStats() map[string]string
}

// NewRegistry returns a registry with ibex's collectors and the Go runtime
// and process collectors.
func NewRegistry(src Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newStateCollector(src),
		newRaftCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
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
