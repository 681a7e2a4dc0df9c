package health

import (
	"context"
	"strconv"
	"sync"
)

// SMPQuery reads port states with one `smpquery portinfo <lid> <port>`
// per port. It is the expensive source (a process per port), which is
// why the Collector only asks it about ports in doubt.
type SMPQuery struct {
	Run      RunFunc // nil: execrun.Run
	Parallel int     // processes at once; 0 means 4
}

// ReadStates implements StateReader. Ports that fail are left out; the
// Collector asks about them again next round.
func (q *SMPQuery) ReadStates(ctx context.Context, ports []PortAddr) map[PortID]PortState {
	var mu sync.Mutex
	out := make(map[PortID]PortState, len(ports))
	forEach(ctx, len(ports), q.Parallel, func(i int) {
		p := ports[i]
		if p.LID == 0 {
			return
		}
		b, err := orExec(q.Run)(ctx, "smpquery", "portinfo", strconv.Itoa(int(p.LID)), strconv.Itoa(p.ID.Port))
		if err != nil {
			return
		}
		pi, err := ParsePortInfo(b)
		if err != nil {
			return
		}
		mu.Lock()
		out[p.ID] = pi.State
		mu.Unlock()
	})
	return out
}
