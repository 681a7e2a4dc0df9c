package opensm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ibex-hpc/ibex/fabric/sm"
)

// Config wires a Driver to one OpenSM.
type Config struct {
	// PartitionsFile is OpenSM's partition_config_file.
	PartitionsFile string
	// Rules for the default partition 0x7fff.
	Rules sm.DefaultRules
	// Reload makes OpenSM re-read the file (SIGHUP to opensm, e.g.
	// ibsim.Fabric.ReloadSM or "systemctl reload opensm").
	Reload func(ctx context.Context) error
	// Reader reads P_Key tables from the fabric.
	Reader PKeyReader
	// Validators run after our own grammar check, e.g. OpenSMParser.
	Validators []Validator
	// VerifyTimeout bounds the wait for the fabric to match; 0 is 60 s.
	VerifyTimeout time.Duration
	// Poll is the pause between table reads; 0 is 10 ms.
	Poll time.Duration
	// ResignalAfter: if the fabric has not converged this long after a
	// SIGHUP, send another (the first may have hit an opensm that was
	// stopping); 0 is 5 s.
	ResignalAfter time.Duration
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
	// Routes, when set, lets the driver load forwarding tables through
	// OpenSM's file routing engine (routes.go).
	Routes *RoutesConfig
}

// Driver implements sm.Driver for OpenSM by rewriting
// partitions.conf, signalling opensm and reading P_Key tables back.
type Driver struct {
	cfg Config
	mu  sync.Mutex // one Apply at a time: they share one file
	// renderHook lets tests corrupt the rendered file to prove that a
	// file failing validation is never installed.
	renderHook func([]byte) []byte
	last       Stats
	// fileMu guards installed, the file Apply last installed (drift.go);
	// held across the write so CheckFile never sees the swap half done.
	fileMu    sync.Mutex
	installed []byte
}

// Stats describes the last Apply, for logs and benchmarks.
type Stats struct {
	Render, Validate, Write, Verify time.Duration
	Written                         bool // false: file already held this content
	Signals                         int  // SIGHUPs sent
	Checked                         int  // ports whose tables were verified
	Reads                           int  // reader calls during verification
}

// New checks cfg and returns a Driver.
func New(cfg Config) (*Driver, error) {
	if cfg.PartitionsFile == "" || cfg.Reload == nil || cfg.Reader == nil {
		return nil, errors.New("opensm: Config needs PartitionsFile, Reload and Reader")
	}
	if cfg.VerifyTimeout == 0 {
		cfg.VerifyTimeout = 60 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.ResignalAfter == 0 {
		cfg.ResignalAfter = 5 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Driver{cfg: cfg}, nil
}

// LastStats returns the breakdown of the most recent Apply.
func (d *Driver) LastStats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Observe implements sm.Driver: the tables as read from the fabric.
func (d *Driver) Observe(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	return d.cfg.Reader.ReadPKeys(ctx, ports)
}

// ValidationError means the desired set or the file rendered from it
// failed validation: nothing was written and OpenSM was not signalled.
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string { return "opensm: not applied: " + e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// Apply implements sm.Driver:
//
//  1. render desired (plus the default rules) deterministically;
//  2. validate: round trip through our grammar, then cfg.Validators;
//     any failure returns a *ValidationError with the old file intact;
//  3. if the content changed, replace the file atomically and SIGHUP;
//  4. read back the P_Key tables of the ports whose expected table
//     changed (all member ports when the file did not change, which
//     is how a repeated Apply detects and repairs drift), SIGHUP-ing
//     again if the fabric does not converge, until they all match.
//
// The whole desired set is applied at once, so a burst of allocation
// changes costs one rewrite and one heavy sweep.
func (d *Driver) Apply(ctx context.Context, desired []sm.Partition) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Stats{}
	defer func() { d.last = st }()

	t := time.Now()
	conf, err := Render(desired, d.cfg.Rules)
	if err != nil {
		return &ValidationError{err}
	}
	if d.renderHook != nil {
		conf = d.renderHook(conf)
	}
	st.Render = time.Since(t)

	t = time.Now()
	if err := checkRoundTrip(conf, desired); err != nil {
		return &ValidationError{err}
	}
	for _, v := range d.cfg.Validators {
		if err := v.Validate(ctx, conf); err != nil {
			return &ValidationError{err}
		}
	}
	st.Validate = time.Since(t)

	t = time.Now()
	same, err := sameContent(d.cfg.PartitionsFile, conf)
	if err != nil {
		return fmt.Errorf("opensm: read %s: %w", d.cfg.PartitionsFile, err)
	}
	verify := d.portsToVerify(desired, same)
	d.fileMu.Lock()
	if !same {
		if err := writeAtomic(d.cfg.PartitionsFile, conf); err != nil {
			d.fileMu.Unlock()
			return fmt.Errorf("opensm: write %s: %w", d.cfg.PartitionsFile, err)
		}
		st.Written = true
	}
	d.installed = conf
	d.fileMu.Unlock()
	st.Write = time.Since(t)

	t = time.Now()
	err = d.converge(ctx, sm.Expected(desired, d.cfg.Rules, verify), st.Written, &st)
	st.Verify = time.Since(t)
	st.Checked = len(verify)
	return err
}

// portsToVerify picks the ports whose P_Key tables must be read back.
// When the file changes, only ports whose expected table differs
// between the old file and the new set: unchanged ports are not
// touched by OpenSM. When it does not change (a retry, or a periodic
// reconcile), every member port plus the full-default ports.
func (d *Driver) portsToVerify(desired []sm.Partition, same bool) []sm.GUID {
	all := append(sm.MemberGUIDs(desired), d.cfg.Rules.Full...)
	if same {
		slices.Sort(all)
		return slices.Compact(all)
	}
	var old []sm.Partition
	if b, err := os.ReadFile(d.cfg.PartitionsFile); err == nil {
		f := Parse(b)
		if f.Err(Error) == nil && strings.HasPrefix(string(b), header) {
			old, err = f.Partitions()
			if err != nil {
				old = nil
			}
		}
	}
	all = append(all, sm.MemberGUIDs(old)...)
	slices.Sort(all)
	all = slices.Compact(all)
	before := sm.Expected(old, d.cfg.Rules, all)
	after := sm.Expected(desired, d.cfg.Rules, all)
	var out []sm.GUID
	for _, g := range all {
		if old == nil || !before[g].Equal(after[g]) {
			out = append(out, g)
		}
	}
	return out
}

// converge signals OpenSM (if signal) and polls the fabric until every
// port in want holds its expected table.
func (d *Driver) converge(ctx context.Context, want map[sm.GUID]sm.Table, signal bool, st *Stats) error {
	pending := make([]sm.GUID, 0, len(want))
	for g := range want {
		pending = append(pending, g)
	}
	slices.Sort(pending)
	deadline := time.Now().Add(d.cfg.VerifyTimeout)
	var lastSignal time.Time
	var sigErr, readErr error
	hup := func() {
		st.Signals++
		lastSignal = time.Now()
		if sigErr = d.cfg.Reload(ctx); sigErr != nil {
			d.cfg.Logf("opensm: reload: %v", sigErr)
		}
	}
	if signal {
		hup()
	}
	var got map[sm.GUID]sm.Table
	for {
		if len(pending) == 0 {
			return nil
		}
		got, readErr = d.cfg.Reader.ReadPKeys(ctx, pending)
		st.Reads++
		pending = slices.DeleteFunc(pending, func(g sm.GUID) bool {
			t, ok := got[g]
			return ok && t.Equal(want[g])
		})
		if len(pending) == 0 {
			return nil
		}
		if !signal || time.Since(lastSignal) > d.cfg.ResignalAfter {
			// Nothing changed in the file but the fabric disagrees
			// (drift, or an earlier SIGHUP was lost): repair.
			d.cfg.Logf("opensm: %d port(s) differ from %s; signalling", len(pending), d.cfg.PartitionsFile)
			signal = true
			hup()
		}
		if time.Now().After(deadline) {
			return d.verifyError(pending, want, got, sigErr, readErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("opensm: verify: %w (%d port(s) pending)", ctx.Err(), len(pending))
		case <-time.After(d.cfg.Poll):
		}
	}
}

// VerifyError lists ports whose tables did not converge in time.
type VerifyError struct {
	Ports []sm.GUID
	Msg   string
}

func (e *VerifyError) Error() string { return e.Msg }

func (d *Driver) verifyError(pending []sm.GUID, want, got map[sm.GUID]sm.Table, sigErr, readErr error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "opensm: %d port(s) did not reach the desired P_Key tables within %v", len(pending), d.cfg.VerifyTimeout)
	for i, g := range pending {
		if i == 5 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		if t, ok := got[g]; ok {
			fmt.Fprintf(&b, "; %s: %s", g, want[g].Diff(t))
		} else {
			fmt.Fprintf(&b, "; %s: unreadable", g)
		}
	}
	if sigErr != nil {
		fmt.Fprintf(&b, "; last reload error: %v", sigErr)
	}
	if readErr != nil {
		fmt.Fprintf(&b, "; last read error: %v", readErr)
	}
	return &VerifyError{Ports: pending, Msg: b.String()}
}

var _ sm.Driver = (*Driver)(nil)
