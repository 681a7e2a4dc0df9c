package opensm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
	"github.com/ibex-hpc/ibex/fabric/route"
	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Forwarding tables through OpenSM's `file` routing engine. OpenSM must
// run with
//
//	routing_engine file        (or "file,<engine>": the fallback is minhop)
//	lfts_file <RoutesConfig.LFTsFile>
//
// (opensm.conf, or -R file -U <file>). Measured with OpenSM 3.3.23 on
// ibsim: a SIGHUP re-reads the file and reprograms every switch in the
// same heavy sweep that re-reads partitions.conf; while the file is
// absent the engine fails ("ERR 6302: Can't open ucast dump file") and
// OpenSM routes with minhop, which is how ibex hands routing back when
// no isolated job runs. (Minhop keeps a switch's current entry when it is
// still a minimum-hop port, ignore_existing_lfts FALSE being the default,
// so the last loaded tables mostly stay until the topology changes: valid
// routes, just no longer maintained.) Changing routing_engine itself
// needs an OpenSM restart (a SIGHUP keeps the engine it started with).
//
// A file OpenSM cannot parse also sends it to minhop, silently for the
// fabric, so, as for P_Keys, ApplyRoutes only returns success once the
// tables read back from the switches equal the ones written.

// RoutesConfig is where the tables go and how they are read back.
type RoutesConfig struct {
	// LFTsFile is OpenSM's lfts_file.
	LFTsFile string
	// ReadLFTs returns `dump_fts` (or dump_lfts) output: every switch's
	// table as the switch holds it.
	ReadLFTs func(ctx context.Context) ([]byte, error)
	// Discover returns `ibnetdiscover` output of the fabric (LIDs
	// included), for RouteFabric.
	Discover func(ctx context.Context) ([]byte, error)
}

// RoutesError means the switches did not reach the tables in time.
type RoutesError struct {
	Differences int
	Sample      []string
	Err         error // last read error, if any
}

func (e *RoutesError) Error() string {
	msg := fmt.Sprintf("opensm: %d forwarding entries differ from the tables written: %s", e.Differences, strings.Join(e.Sample, "; "))
	if e.Err != nil {
		msg += fmt.Sprintf("; last read error: %v", e.Err)
	}
	return msg
}

// RoutesEnabled reports whether the driver was given Config.Routes: only
// then does the leader run the routing loop with it.
func (d *Driver) RoutesEnabled() bool { _, err := d.routes(); return err == nil }

func (d *Driver) routes() (*RoutesConfig, error) {
	rc := d.cfg.Routes
	if rc == nil || rc.LFTsFile == "" || rc.ReadLFTs == nil {
		return nil, errors.New("opensm: forwarding tables need Config.Routes (LFTsFile, ReadLFTs) and OpenSM with routing_engine file")
	}
	return rc, nil
}

// RouteFabric implements sm.Router: the fabric as ibnetdiscover sees it.
func (d *Driver) RouteFabric(ctx context.Context) (*route.Fabric, error) {
	rc, err := d.routes()
	if err != nil {
		return nil, err
	}
	if rc.Discover == nil {
		return nil, errors.New("opensm: Config.Routes.Discover is not set")
	}
	out, err := rc.Discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("opensm: ibnetdiscover: %w", err)
	}
	nf, err := ibnet.Parse(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("opensm: ibnetdiscover output: %w", err)
	}
	return route.FromIBNet(nf)
}

// ObserveRoutes implements sm.Router: the tables read from the switches.
func (d *Driver) ObserveRoutes(ctx context.Context) (route.Tables, error) {
	rc, err := d.routes()
	if err != nil {
		return nil, err
	}
	out, err := rc.ReadLFTs(ctx)
	if err != nil {
		return nil, fmt.Errorf("opensm: read forwarding tables: %w", err)
	}
	return route.Parse(bytes.NewReader(out))
}

// ApplyRoutes implements sm.Router. With tables: render them in the
// file engine's format, check the rendering parses back to the same
// tables, replace lfts_file atomically, SIGHUP, and read the switches
// until they hold exactly those entries (re-signalling like Apply). With
// nil: remove lfts_file so OpenSM routes by itself again, SIGHUP, and
// check every switch reaches every end port. It returns the tables of
// that last read.
func (d *Driver) ApplyRoutes(ctx context.Context, f *route.Fabric, t route.Tables) (route.Tables, error) {
	rc, err := d.routes()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t == nil {
		changed := false
		if err := os.Remove(rc.LFTsFile); err == nil {
			changed = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("opensm: remove %s: %w", rc.LFTsFile, err)
		}
		return d.convergeRoutes(ctx, f, nil, changed)
	}
	b := route.Render(f, t)
	back, err := route.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, &ValidationError{fmt.Errorf("rendered forwarding tables do not parse: %w", err)}
	}
	if diffs, n := route.Diff(f, t, back, 3); n > 0 {
		return nil, &ValidationError{fmt.Errorf("rendered forwarding tables differ from the computed ones: %v", diffs)}
	}
	same, err := sameContent(rc.LFTsFile, b)
	if err != nil {
		return nil, fmt.Errorf("opensm: read %s: %w", rc.LFTsFile, err)
	}
	if !same {
		if err := writeAtomic(rc.LFTsFile, b); err != nil {
			return nil, fmt.Errorf("opensm: write %s: %w", rc.LFTsFile, err)
		}
	}
	return d.convergeRoutes(ctx, f, t, !same)
}

// convergeRoutes reads the switches' tables until they match want (nil:
// until every end port is reachable from every switch), signalling
// OpenSM first if signal, and again when nothing changed for
// ResignalAfter. It returns the tables of the read that matched.
func (d *Driver) convergeRoutes(ctx context.Context, f *route.Fabric, want route.Tables, signal bool) (route.Tables, error) {
	rc := d.cfg.Routes
	deadline := time.Now().Add(d.cfg.VerifyTimeout)
	var last time.Time
	hup := func() {
		last = time.Now()
		if err := d.cfg.Reload(ctx); err != nil {
			d.cfg.Logf("opensm: reload: %v", err)
		}
	}
	if signal {
		hup()
	}
	for {
		out, readErr := rc.ReadLFTs(ctx)
		var got route.Tables
		if readErr == nil {
			got, readErr = route.Parse(bytes.NewReader(out))
		}
		var sample []string
		n := 0
		if readErr == nil {
			if want != nil {
				sample, n = route.Diff(f, want, got, 5)
			} else {
				for _, v := range route.Check(f, nil, got) {
					if n++; len(sample) < 5 {
						sample = append(sample, v.String())
					}
				}
			}
			if n == 0 {
				return got, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, &RoutesError{Differences: n, Sample: sample, Err: readErr}
		}
		if !signal || time.Since(last) > d.cfg.ResignalAfter {
			d.cfg.Logf("opensm: %d forwarding entries differ from %s; signalling", n, rc.LFTsFile)
			signal = true
			hup()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("opensm: verify forwarding tables: %w", ctx.Err())
		case <-time.After(d.cfg.Poll * 10):
		}
	}
}

var _ sm.Router = (*Driver)(nil)
