package opensm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ibex-hpc/ibex/fabric/sm"
	"github.com/ibex-hpc/ibex/internal/execrun"
)

// PKeyReader reads P_Key tables from the fabric itself, the only
// evidence that a partition change happened: OpenSM's log says it
// swept, not that every port took the new table.
type PKeyReader interface {
	// ReadPKeys returns the tables of the ports it could read; the
	// others are named in the error.
	ReadPKeys(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error)
}

// ReaderFunc adapts a function to PKeyReader.
type ReaderFunc func(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error)

// ReadPKeys calls f.
func (f ReaderFunc) ReadPKeys(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	return f(ctx, ports)
}

// RunFunc runs an infiniband-diags tool and returns its stdout:
// execrun.Run is the production setting on the SM host, where the diags
// talk to the real HCA.
type RunFunc = execrun.Func

// SMPQuery reads tables with one "smpquery pkeys <lid> 1" per port,
// after one "ibnetdiscover -p" maps port GUIDs to LIDs (SA queries
// are not an option under umad2sim: no multi-MAD replies). It works
// on any fabric where infiniband-diags run; on ibsim each process
// costs 25-40 ms, so prefer a faster reader there.
type SMPQuery struct {
	Run RunFunc // nil: execrun.Run
	// Parallel processes; 0 means 4. On ibsim keep it below ibsim's
	// 10-client limit minus opensm.
	Parallel int

	mu   sync.Mutex
	lids map[sm.GUID]int
}

// ReadPKeys implements PKeyReader.
func (s *SMPQuery) ReadPKeys(ctx context.Context, ports []sm.GUID) (map[sm.GUID]sm.Table, error) {
	run := s.Run
	if run == nil {
		run = execrun.Run
	}
	lids, err := s.lidsFor(ctx, run, ports)
	if err != nil {
		return nil, err
	}
	par := s.Parallel
	if par <= 0 {
		par = 4
	}
	var mu sync.Mutex
	out := map[sm.GUID]sm.Table{}
	var errs []error
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, g := range ports {
		lid, ok := lids[g]
		if !ok {
			errs = append(errs, fmt.Errorf("port %s: not found by ibnetdiscover", g))
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b, err := run(ctx, "smpquery", "pkeys", strconv.Itoa(lid), "1")
			t, perr := ParseSMPQueryPKeys(b)
			mu.Lock()
			defer mu.Unlock()
			if err = errors.Join(err, perr); err != nil {
				errs = append(errs, fmt.Errorf("port %s (lid %d): %w", g, lid, err))
				return
			}
			out[g] = t
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		s.mu.Lock()
		s.lids = nil // LIDs may have moved (e.g. SM restart without its cache)
		s.mu.Unlock()
	}
	return out, errors.Join(errs...)
}

// lidsFor returns cached LIDs, rediscovering when a port is unknown.
func (s *SMPQuery) lidsFor(ctx context.Context, run RunFunc, ports []sm.GUID) (map[sm.GUID]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fresh := false
	for _, g := range ports {
		if _, ok := s.lids[g]; !ok {
			fresh = true
			break
		}
	}
	if fresh {
		b, err := run(ctx, "ibnetdiscover", "-p")
		if err != nil {
			return nil, err
		}
		s.lids = ParseIBNetDiscoverPorts(b)
	}
	return s.lids, nil
}

// ParseIBNetDiscoverPorts maps CA port GUIDs to LIDs from
// "ibnetdiscover -p" lines such as
// "CA    12  1 0x0002c90300000011 4x EDR - SW 3 1 ( 'node001 HCA-1' - 'leaf01' )".
func ParseIBNetDiscoverPorts(b []byte) map[sm.GUID]int {
	m := map[sm.GUID]int{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "CA" {
			continue
		}
		lid, err1 := strconv.Atoi(f[1])
		g, err2 := sm.ParseGUID(f[3])
		if err1 == nil && err2 == nil {
			m[g] = lid
		}
	}
	return m
}

// ParseSMPQueryPKeys reads "smpquery pkeys" output:
//
//	   0: 0xffff 0x8001 0x0000 0x0000 ...
//	  ...
//	64 pkeys capacity for this port
func ParseSMPQueryPKeys(b []byte) (sm.Table, error) {
	var raw []uint16
	rows := 0
	for _, l := range strings.Split(string(b), "\n") {
		idx, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimSpace(idx)); err != nil {
			continue
		}
		rows++
		for _, v := range strings.Fields(rest) {
			n, err := strconv.ParseUint(v, 0, 16)
			if err != nil {
				return nil, fmt.Errorf("smpquery: bad P_Key %q", v)
			}
			raw = append(raw, uint16(n))
		}
	}
	if rows == 0 {
		return nil, errors.New("smpquery: no P_Key table in output")
	}
	return sm.NewTable(raw...), nil
}
