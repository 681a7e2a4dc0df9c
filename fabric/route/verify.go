package route

import (
	"fmt"
	"strings"
)

// Violation is one way the tables fail the isolation or connectivity.
type Violation struct {
	From, To string // switch name, destination
	Problem  string
}

func (v Violation) String() string { return fmt.Sprintf("%s -> %s: %s", v.From, v.To, v.Problem) }

// CheckError lists the violations Check found.
type CheckError struct{ Violations []Violation }

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "route: %d violation(s) of link isolation or connectivity", len(e.Violations))
	for i, v := range e.Violations {
		if i == 8 {
			b.WriteString("; ...")
			break
		}
		b.WriteString("; " + v.String())
	}
	return b.String()
}

// Path is the cables a packet crosses from a switch to an end port.
type Path struct {
	Cables []Cable // each named by its end at the switch it leaves
	Err    string  // why the walk stopped short, "" when it arrived
}

// Trace follows the tables from switch from to end port to, as the
// switches themselves would forward a packet to to's (base) LID.
func Trace(f *Fabric, t Tables, from *Switch, to *End) Path {
	return TraceLID(f, t, from, to, to.LID)
}

// TraceLID is Trace to one of to's LIDs (see End.LIDs).
func TraceLID(f *Fabric, t Tables, from *Switch, to *End, lid uint16) Path {
	var p Path
	cur := from
	for hops := 0; ; hops++ {
		if hops > len(f.Switches) {
			p.Err = "forwarding loop"
			return p
		}
		port := t.Port(cur.GUID, lid)
		if port == NoPath || int(port) >= len(cur.Ports) || port == 0 {
			p.Err = fmt.Sprintf("no route at %s (entry %d)", cur.Name, port)
			return p
		}
		peer := cur.Ports[port]
		switch {
		case peer.End == to:
			return p
		case peer.Switch != nil:
			p.Cables = append(p.Cables, Cable{Switch: cur.GUID, Port: int(port)})
			cur = peer.Switch
		default:
			p.Err = fmt.Sprintf("%s port %d does not lead to %s", cur.Name, port, to.Name)
			return p
		}
	}
}

// Check traces every switch's route to every end port and reports:
// routes that do not arrive; for each isolated job J spanning leaves,
// a route between two of J's ports on different leaves that crosses a
// cable J does not hold (rule a); and any route from a leaf to a port
// outside J that crosses a cable J holds (rule b). It reads only the
// tables, so it checks tables read back from the switches as well as
// computed ones.
func Check(f *Fabric, jobs []Job, t Tables) []Violation {
	p, err := newPolicy(f, jobs)
	if err != nil {
		return []Violation{{Problem: err.Error()}}
	}
	var out []Violation
	for _, s := range f.Switches {
		leaf := s.ends
		for _, e := range f.Ends {
			for i := uint16(0); i < uint16(1)<<e.LMC; i++ {
				out = p.checkLID(out, t, s, e, e.LID+i, leaf)
			}
		}
	}
	return out
}

// checkLID is Check of the route from switch s to LID lid of e.
func (p *policy) checkLID(out []Violation, t Tables, s *Switch, e *End, lid uint16, leaf bool) []Violation {
	f, jobs := p.f, p.jobs
	to := e.Name
	if lid != e.LID {
		to = fmt.Sprintf("%s (LID %d)", e.Name, lid)
	}
	if e.Switch == s {
		if t.Port(s.GUID, lid) != uint8(e.SwitchPort) {
			out = append(out, Violation{s.Name, to, fmt.Sprintf("entry %d, want port %d", t.Port(s.GUID, lid), e.SwitchPort)})
		}
		return out
	}
	path := TraceLID(f, t, s, e, lid)
	if path.Err != "" {
		return append(out, Violation{s.Name, to, path.Err})
	}
	if !leaf {
		return out
	}
	dj, inJob := p.endJob[e.GUID]
	for _, c := range path.Cables {
		h, held := p.held[portKey{c.Switch, c.Port}]
		switch {
		case held && (!inJob || h != dj):
			out = append(out, Violation{s.Name, to, fmt.Sprintf("crosses cable %s held by isolated job %s", f.cableName(c), jobs[h].ID)})
		case inJob && p.cabled[dj] && p.leaves[dj][s] && (!held || h != dj):
			out = append(out, Violation{s.Name, to, fmt.Sprintf("traffic inside isolated job %s crosses cable %s, which it does not hold", jobs[dj].ID, f.cableName(c))})
		}
	}
	return out
}

// cableName names a cable "leaf01[9]->spine02[1]".
func (f *Fabric) cableName(c Cable) string {
	s := f.Switch(c.Switch)
	if s == nil || c.Port >= len(s.Ports) || s.Ports[c.Port].Switch == nil {
		return c.String()
	}
	r := s.Ports[c.Port]
	return fmt.Sprintf("%s[%d]-%s[%d]", s.Name, c.Port, r.Switch.Name, r.Port)
}
