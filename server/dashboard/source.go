package dashboard

import (
	"time"

	"github.com/ibex-hpc/ibex/model"
	"github.com/ibex-hpc/ibex/raft/fsm"
)

// Source is what the dashboard reads from ibexd. *server.Server implements
// it; tests use a fake, so this package never imports the server.
type Source interface {
	// Read runs fn on the live state under its read lock; fn copies what it
	// shows and keeps no reference. (A deep copy per request would also
	// copy the cluster's secrets.)
	Read(fn func(*fsm.State))
	// Changed returns a channel closed at the next state change.
	Changed() <-chan struct{}
	// TenantForToken resolves a bearer token, or returns nil.
	TenantForToken(token string) *model.Tenant
}

// Switches are the switches above the leaves. The replicated state knows
// each node's leaf but not what is above it, which comes from the fabric
// description: the configured fat tree or an imported ibnetdiscover dump.
// The picture has two levels; switches above the spines are not drawn.
type Switches struct {
	// Spines names the switches one level above the leaves.
	Spines []string
	// Uplinks lists, per leaf, the spines it is cabled to. A leaf that is
	// not in the map is cabled to every spine, as in a two-level fat tree.
	Uplinks map[string][]string
}

// Options tune the dashboard. Zero values get the defaults documented on
// each field.
type Options struct {
	// Switches describes the switches above the leaves, read at each
	// overview (an imported topology can replace the fabric at any time).
	// Nil draws leaves and nodes only.
	Switches func() Switches
	// Links reports degraded or down links. Nil means link health is not
	// monitored yet, and the overview's links list stays empty.
	Links func() []Link
	// AggregateAbove is the node count above which the overview summarises
	// nodes per leaf instead of listing them; default 512. Drawing a tile
	// per node stays readable to about that size on a laptop screen, and the
	// summary keeps both the JSON and the page's DOM small at thousands.
	AggregateAbove int
	// MaxJobs caps the queue and running lists in the overview; default 50.
	// The totals are always exact. A queue thousands deep is summarised by
	// its head: that is what the operator acts on.
	MaxJobs int
	// MinEventInterval is the shortest gap between two change events on one
	// stream; default 200 ms (at most five updates a second). A burst of
	// raft applies, such as a 512-node allocation finishing, becomes one
	// refresh instead of hundreds.
	MinEventInterval time.Duration
	// KeepAlive is how often an idle event stream gets a comment line, so
	// proxies and the browser do not time it out; default 15 s.
	KeepAlive time.Duration
	// now is the clock, for tests.
	now func() time.Time
}

func (o *Options) fill() {
	if o.AggregateAbove <= 0 {
		o.AggregateAbove = 512
	}
	if o.MaxJobs <= 0 {
		o.MaxJobs = 50
	}
	if o.MinEventInterval <= 0 {
		o.MinEventInterval = 200 * time.Millisecond
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.now == nil {
		o.now = func() time.Time { return time.Now().UTC() }
	}
}
