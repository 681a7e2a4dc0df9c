package health

import (
	"fmt"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// Thresholds above which a link is degraded. Rates are per minute,
// averaged over the window, so they do not depend on the sampling
// interval. The defaults follow ibqueryerrors' default error thresholds
// (10 symbol errors, 10 receive errors, 100 transmit discards), read as
// per-minute rates: a healthy EDR/HDR link sees a handful per day.
type Thresholds struct {
	SymbolErrors, RcvErrors, XmitDiscards float64
	// Flaps is how many LinkDownedCounter increments within the window
	// degrade a link; 0 means 1 (any flap).
	Flaps uint64
}

// DefaultThresholds are used for zero fields of Config.Thresholds.
var DefaultThresholds = Thresholds{SymbolErrors: 10, RcvErrors: 10, XmitDiscards: 100, Flaps: 1}

// Config tunes a Monitor. The zero value is usable.
type Config struct {
	// Window is how many counter intervals per port the rates cover;
	// 0 means 10 (five minutes at a 30 s interval).
	Window int
	// Thresholds; zero fields take DefaultThresholds.
	Thresholds Thresholds
	// MinRate is the slowest acceptable link (e.g. 4x HDR); zero
	// fields are not checked. Each link is also held to the best rate
	// it was ever seen at, so a link that trains down from 4x to 1x
	// after a lane fails is degraded even without MinRate.
	MinRate ibnet.Rate
	// CounterFailures is how many failed counter reads in a row degrade
	// a link; 0 means 3.
	CounterFailures int
	// MaxLost: a discovery that loses more than this fraction of the
	// known links is treated as failed (Report.Stale), not as a mass
	// outage, because it usually means the discovering HCA or the SM
	// host lost its own link. 0 means 0.5; 1 disables the guard.
	MaxLost float64
	// ConfirmDown is how many successful discoveries in a row must miss
	// a link before it is down; before that it is degraded (flagged,
	// still schedulable). 0 means 1: down at once. Raise it on large
	// fabrics where ibnetdiscover may skip a node after one MAD timeout
	// and still exit 0, at the price of one interval's delay.
	ConfirmDown int
	// Expected links are known before the first discovery (e.g. from
	// the site's ibnetdiscover dump, see LinksFromFabric), so a cable
	// that is already missing at start-up is reported down.
	Expected []LinkObs
}

// Monitor keeps the rolling view of the fabric. Observe is its only
// input; it does no I/O, so it is safe to drive from tests with made-up
// samples. A Monitor is safe for concurrent use.
type Monitor struct {
	mu    sync.Mutex
	cfg   Config
	links map[LinkID]*linkView
	ports map[PortID]*portView
	n     int // samples observed
	last  Report
}

// linkView is what the monitor remembers about one cable.
type linkView struct {
	id      LinkID
	kind    LinkKind
	a, b    End // host or leaf first (see kindOf)
	rate    ibnet.Rate
	best    ibnet.Rate // fastest rate ever seen: what the link can do
	present bool       // in the last successful discovery
	misses  int        // successful discoveries in a row without it
	seen    bool       // in any discovery (false: only expected)
	since   time.Time  // when present last changed
}

// Sample is one round of collection, taken at Time.
type Sample struct {
	Time time.Time
	// Links is the discovery. When DiscoverErr is set, Links is ignored
	// and the previous topology is kept (the report is Stale).
	Links       []LinkObs
	DiscoverErr error
	// States holds the ports whose logical state was read this round.
	States map[PortID]PortState
	// Counters holds the ports whose counters were read; CounterErrs
	// the ports whose read failed.
	Counters    map[PortID]Counters
	CounterErrs map[PortID]error
}

// New returns a Monitor that knows cfg.Expected.
func New(cfg Config) *Monitor {
	if cfg.Window <= 0 {
		cfg.Window = 10
	}
	d := DefaultThresholds
	if cfg.Thresholds.SymbolErrors == 0 {
		cfg.Thresholds.SymbolErrors = d.SymbolErrors
	}
	if cfg.Thresholds.RcvErrors == 0 {
		cfg.Thresholds.RcvErrors = d.RcvErrors
	}
	if cfg.Thresholds.XmitDiscards == 0 {
		cfg.Thresholds.XmitDiscards = d.XmitDiscards
	}
	if cfg.Thresholds.Flaps == 0 {
		cfg.Thresholds.Flaps = d.Flaps
	}
	if cfg.CounterFailures <= 0 {
		cfg.CounterFailures = 3
	}
	if cfg.ConfirmDown <= 0 {
		cfg.ConfirmDown = 1
	}
	if cfg.MaxLost <= 0 {
		cfg.MaxLost = 0.5
	}
	m := &Monitor{cfg: cfg, links: map[LinkID]*linkView{}, ports: map[PortID]*portView{}}
	for _, o := range cfg.Expected {
		m.learn(o, time.Time{}).seen = false
	}
	return m
}

// Observe folds one sample into the rolling view and returns the
// resulting report.
func (m *Monitor) Observe(s Sample) Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	stale := ""
	if s.DiscoverErr != nil {
		stale = "fabric discovery failed: " + s.DiscoverErr.Error()
	} else if lost, known := m.lost(s.Links); known > 0 && float64(lost)/float64(known) > m.cfg.MaxLost {
		stale = fmt.Sprintf("discovery lost %d of %d known links at once; not believed (is the discovering host's own link down?)", lost, known)
	} else {
		m.discover(s)
	}
	for p, st := range s.States {
		m.port(p).state = st
	}
	for p, c := range s.Counters {
		m.port(p).observe(s.Time, c, m.cfg.Window)
	}
	for p, err := range s.CounterErrs {
		if _, ok := s.Counters[p]; !ok && err != nil {
			m.port(p).fail(err)
		}
	}
	m.last = m.report(s.Time, stale)
	return m.last
}

// lost counts the known, present links a discovery no longer has.
func (m *Monitor) lost(obs []LinkObs) (lost, known int) {
	in := make(map[LinkID]bool, len(obs))
	for _, o := range obs {
		in[o.ID()] = true
	}
	for id, l := range m.links {
		if l.present {
			known++
			if !in[id] {
				lost++
			}
		}
	}
	return lost, known
}

// discover applies a successful discovery: links in it are present,
// every other known link is missing.
func (m *Monitor) discover(s Sample) {
	in := make(map[LinkID]bool, len(s.Links))
	for _, o := range s.Links {
		in[o.ID()] = true
		l := m.learn(o, s.Time)
		l.misses = 0
		if !l.present {
			l.present, l.since = true, s.Time
		}
	}
	for id, l := range m.links {
		if in[id] {
			continue
		}
		l.misses++
		if l.present || l.since.IsZero() {
			l.present, l.since = false, s.Time
			// What we knew about the ports' states is void: when the
			// link returns, the collector reads them again.
			m.port(l.a.Port).state = StateUnknown
			m.port(l.b.Port).state = StateUnknown
		}
	}
}

// learn records a link's ends and rate, creating the link if new.
func (m *Monitor) learn(o LinkObs, t time.Time) *linkView {
	id := o.ID()
	l := m.links[id]
	if l == nil {
		l = &linkView{id: id}
		m.links[id] = l
	}
	l.kind, l.a, l.b = kindOf(o.A, o.B)
	l.rate = o.Rate
	if o.Rate.Width > l.best.Width {
		l.best.Width = o.Rate.Width
	}
	if o.Rate.Speed > l.best.Speed {
		l.best.Speed = o.Rate.Speed
	}
	l.seen = true
	return l
}

func (m *Monitor) port(p PortID) *portView {
	v := m.ports[p]
	if v == nil {
		v = &portView{}
		m.ports[p] = v
	}
	return v
}

// Forget drops a link from the view (a cable removed on purpose), so it
// stops being reported down. It returns whether the link was known.
func (m *Monitor) Forget(id LinkID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.links[id]
	delete(m.links, id)
	return ok
}

// Last returns the most recent report (zero before the first Observe).
func (m *Monitor) Last() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}
