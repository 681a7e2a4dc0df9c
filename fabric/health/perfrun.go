package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// PerfQuery reads counters with `perfquery <lid> <port>[,<port>...]`: one
// process per LID, i.e. one per switch for all its ports and one per HCA
// port. The process is what costs (tens of ms on ibsim, mostly start-up
// and the ClassPortInfo query), so batching a switch's ports matters.
//
// Plain perfquery reads PortCounters, whose error counters every PMA has
// (16 bits, saturating). With Extended it runs `perfquery -x` first, which
// on HCAs and switches with 64-bit error counters (CapMask bit 14, e.g.
// ConnectX-4 and later) never saturates; a LID whose -x output lacks the
// error counters (ibsim, older HCAs) is remembered and read plainly.
type PerfQuery struct {
	Run      RunFunc // nil: execrun.Run
	Parallel int     // processes at once; 0 means 4
	Extended bool

	mu    sync.Mutex
	noExt map[uint16]bool
}

// ReadCounters implements CounterReader.
func (q *PerfQuery) ReadCounters(ctx context.Context, ports []PortAddr) (map[PortID]Counters, map[PortID]error) {
	got := make(map[PortID]Counters, len(ports))
	errs := map[PortID]error{}
	var byLID [][]PortAddr
	idx := map[uint16]int{}
	for _, p := range ports {
		if p.LID == 0 {
			errs[p.ID] = fmt.Errorf("perfquery %s: port has no LID", p.ID)
			continue
		}
		i, ok := idx[p.LID]
		if !ok {
			i = len(byLID)
			idx[p.LID] = i
			byLID = append(byLID, nil)
		}
		byLID[i] = append(byLID[i], p)
	}
	var mu sync.Mutex
	forEach(ctx, len(byLID), q.Parallel, func(i int) {
		c, e := q.read(ctx, byLID[i])
		mu.Lock()
		defer mu.Unlock()
		for id, v := range c {
			got[id] = v
		}
		for id, err := range e {
			errs[id] = err
		}
	})
	for _, p := range ports {
		_, ok := got[p.ID]
		if _, failed := errs[p.ID]; !ok && !failed {
			errs[p.ID] = fmt.Errorf("not read: %w", context.Cause(ctx))
		}
	}
	return got, errs
}

// read queries the ports behind one LID, falling back from -x to plain.
func (q *PerfQuery) read(ctx context.Context, ports []PortAddr) (map[PortID]Counters, map[PortID]error) {
	lid := ports[0].LID
	ext := q.Extended && !q.plainOnly(lid)
	got, errs := q.query(ctx, ports, ext)
	if ext && len(errs) > 0 {
		for _, err := range errs {
			if !errors.Is(err, ErrNoErrorCounters) {
				return got, errs
			}
		}
		q.mu.Lock()
		if q.noExt == nil {
			q.noExt = map[uint16]bool{}
		}
		q.noExt[lid] = true
		q.mu.Unlock()
		return q.query(ctx, ports, false)
	}
	return got, errs
}

func (q *PerfQuery) plainOnly(lid uint16) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.noExt[lid]
}

func (q *PerfQuery) query(ctx context.Context, ports []PortAddr, ext bool) (map[PortID]Counters, map[PortID]error) {
	got := map[PortID]Counters{}
	errs := map[PortID]error{}
	ports = slices.SortedFunc(slices.Values(ports), func(a, b PortAddr) int { return a.ID.Port - b.ID.Port })
	nums := make([]string, len(ports))
	for i, p := range ports {
		nums[i] = strconv.Itoa(p.ID.Port)
	}
	args := []string{strconv.Itoa(int(ports[0].LID)), strings.Join(nums, ",")}
	if ext {
		args = append([]string{"-x"}, args...)
	}
	fail := func(err error) (map[PortID]Counters, map[PortID]error) {
		for _, p := range ports {
			errs[p.ID] = err
		}
		return got, errs
	}
	out, err := orExec(q.Run)(ctx, "perfquery", args...)
	if err != nil {
		return fail(err)
	}
	blocks, err := ParsePerfQuery(out)
	if err != nil {
		return fail(fmt.Errorf("perfquery %v: %w", args, err))
	}
	byPort := map[int]PerfBlock{}
	for _, b := range blocks {
		byPort[b.Port] = b
	}
	for _, p := range ports {
		b, ok := byPort[p.ID.Port]
		if !ok {
			errs[p.ID] = fmt.Errorf("perfquery %v: no block for port %d", args, p.ID.Port)
			continue
		}
		c, err := b.Counters()
		if err != nil {
			errs[p.ID] = err
			continue
		}
		got[p.ID] = c
	}
	return got, errs
}
