package route

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ibex-hpc/ibex/fabric/ibnet"
)

// Fabric is what routing needs of a fabric: switches with their LIDs and
// cables, and the end ports (CA ports) with their LIDs.
type Fabric struct {
	Switches []*Switch
	Ends     []*End

	bySwitch map[uint64]*Switch
	byName   map[string]*Switch
	byEnd    map[uint64]*End
}

// Switch is one switch. Ports is indexed by port number; an unconnected
// port has a zero Peer.
type Switch struct {
	GUID  uint64
	LID   uint16
	Name  string
	Level int // 1: leaf (has end ports); 2: one hop above; 0: unknown
	Ports []Peer

	idx    int   // position in Fabric.Switches
	planeK []int // per port: Plane's k
	ends   bool  // has end ports
}

// Peer is what a switch port is cabled to: another switch's port or an
// end port.
type Peer struct {
	Switch *Switch
	End    *End
	Port   int // the remote port number (switches)
}

// End is a CA port: a destination.
type End struct {
	GUID       uint64 // port GUID
	LID        uint16 // base LID
	LMC        uint8  // the port answers to LIDs LID .. LID+2^LMC-1
	Name       string // node description, e.g. "node001 HCA-1"
	Switch     *Switch
	SwitchPort int
}

// Cable is one switch-to-switch cable, named by its end at the lower
// switch (the leaf): the switch's GUID and port number.
type Cable struct {
	Switch uint64
	Port   int
}

func (c Cable) String() string { return fmt.Sprintf("0x%016x[%d]", c.Switch, c.Port) }

// SwitchByName returns the switch with the given name, or nil.
func (f *Fabric) SwitchByName(name string) *Switch { return f.byName[name] }

// Switch returns the switch with the given node GUID, or nil.
func (f *Fabric) Switch(guid uint64) *Switch { return f.bySwitch[guid] }

// End returns the end port with the given port GUID, or nil.
func (f *Fabric) End(guid uint64) *End { return f.byEnd[guid] }

// FromIBNet builds the routing model from a parsed ibnetdiscover dump.
// LIDs come from the dump; a dump without them (an ibsim net file) can be
// given LIDs with AssignLIDs. Switch names are ibnet's resolved names
// (the description of "leaf01" is "leaf01"), a name two switches share
// followed by the dump ID, as scheduler/topotree names them: that is how
// the scheduler's link names ("leaf01>spine02#2") refer to them.
func FromIBNet(nf *ibnet.Fabric) (*Fabric, error) {
	f := &Fabric{}
	sws := map[*ibnet.Node]*Switch{}
	count := map[string]int{}
	for _, n := range nf.Switches() {
		count[n.Name]++
	}
	for _, n := range nf.Switches() {
		name := n.Name
		if count[name] > 1 {
			name += "(" + n.ID + ")"
		}
		s := &Switch{GUID: n.GUID, LID: n.LID, Name: name, Level: n.Level, Ports: make([]Peer, len(n.Ports))}
		if s.GUID == 0 {
			return nil, fmt.Errorf("route: switch %s has no GUID; routing needs an ibnetdiscover dump with GUIDs", n)
		}
		sws[n] = s
		f.Switches = append(f.Switches, s)
	}
	for _, n := range nf.Switches() {
		s := sws[n]
		for num, p := range n.Ports {
			r := p.Remote()
			if r == nil {
				continue
			}
			switch r.Node.Kind {
			case ibnet.KindSwitch:
				s.Ports[num] = Peer{Switch: sws[r.Node], Port: r.Num}
			case ibnet.KindCA:
				guid := r.GUID
				if guid == 0 {
					guid = r.Node.GUID + uint64(r.Num) // ibsim numbers port GUIDs node+port
				}
				e := &End{GUID: guid, LID: r.LID, LMC: r.LMC, Name: r.Node.Desc, Switch: s, SwitchPort: num}
				if e.LID == 0 {
					e.LID = r.Node.LID
				}
				s.Ports[num] = Peer{End: e}
				f.Ends = append(f.Ends, e)
			}
		}
	}
	return f, f.index()
}

// AssignLIDs gives every switch and end port a LID in a fixed order
// (end ports by GUID first, then switches by GUID), for fabrics known
// only from a file without LIDs: the simulated subnet manager of --dev.
func (f *Fabric) AssignLIDs() {
	ends := slices.Clone(f.Ends)
	slices.SortFunc(ends, func(a, b *End) int { return cmp.Compare(a.GUID, b.GUID) })
	lid := uint16(1)
	for _, e := range ends {
		n := uint16(1) << e.LMC
		lid = (lid + n - 1) &^ (n - 1) // a port's LIDs are aligned to 2^LMC
		e.LID = lid
		lid += n
	}
	sws := slices.Clone(f.Switches)
	slices.SortFunc(sws, func(a, b *Switch) int { return cmp.Compare(a.GUID, b.GUID) })
	for _, s := range sws {
		s.LID = lid
		lid++
	}
}

func (f *Fabric) index() error {
	f.bySwitch = map[uint64]*Switch{}
	f.byName = map[string]*Switch{}
	f.byEnd = map[uint64]*End{}
	for i, s := range f.Switches {
		s.idx = i
		s.planeK = make([]int, len(s.Ports))
		seen := map[*Switch]int{}
		s.ends = false
		for p, pr := range s.Ports {
			if pr.Switch != nil {
				seen[pr.Switch]++
				s.planeK[p] = seen[pr.Switch]
			}
			if pr.End != nil {
				s.ends = true
			}
		}
		if _, dup := f.bySwitch[s.GUID]; dup {
			return fmt.Errorf("route: switch GUID 0x%016x appears twice", s.GUID)
		}
		f.bySwitch[s.GUID] = s
		if s.Name != "" {
			f.byName[s.Name] = s
		}
	}
	for _, e := range f.Ends {
		if _, dup := f.byEnd[e.GUID]; dup {
			return fmt.Errorf("route: port GUID 0x%016x appears twice", e.GUID)
		}
		f.byEnd[e.GUID] = e
	}
	return nil
}

// MaxLID is the largest LID in the fabric.
func (f *Fabric) MaxLID() uint16 {
	var m uint16
	for _, s := range f.Switches {
		m = max(m, s.LID)
	}
	for _, e := range f.Ends {
		m = max(m, e.LastLID())
	}
	return m
}

// LastLID is the highest of the port's LIDs (LID itself with LMC 0).
func (e *End) LastLID() uint16 { return e.LID + uint16(1)<<e.LMC - 1 }

// LIDs lists the port's LIDs: OpenSM with lmc > 0 gives every CA port
// 2^lmc consecutive LIDs, each routed on its own (multipath).
func (e *End) LIDs() []uint16 {
	out := make([]uint16, 0, 1<<e.LMC)
	for l := e.LID; ; l++ {
		out = append(out, l)
		if l == e.LastLID() {
			return out
		}
	}
}

// CheckLIDs fails when a switch or end port has no LID or two share one:
// the tables are indexed by LID.
func (f *Fabric) CheckLIDs() error {
	seen := map[uint16]string{}
	add := func(lid uint16, what string) error {
		if lid == 0 || lid >= 0xc000 {
			return fmt.Errorf("route: %s has no unicast LID (%d): is the subnet up?", what, lid)
		}
		if o, dup := seen[lid]; dup {
			return fmt.Errorf("route: LID %d used by %s and %s", lid, o, what)
		}
		seen[lid] = what
		return nil
	}
	for _, s := range f.Switches {
		if err := add(s.LID, "switch "+s.Name); err != nil {
			return err
		}
	}
	for _, e := range f.Ends {
		if e.LMC > 7 || uint32(e.LID)+uint32(1)<<e.LMC-1 >= 0xc000 || e.LID&(uint16(1)<<e.LMC-1) != 0 {
			return fmt.Errorf("route: port %s: LID %d with LMC %d is not a valid aligned unicast range", e.Name, e.LID, e.LMC)
		}
		for _, lid := range e.LIDs() {
			if err := add(lid, "port "+e.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// Plane returns, for port num of switch s cabled to a switch, the
// remote switch and k: this is the k-th cable (1-based, in port order)
// from s to that switch. (remote, k) is the plane of the cable.
func (s *Switch) Plane(num int) (remote *Switch, k int) {
	return s.Ports[num].Switch, s.planeK[num]
}

// ResolveLink turns a scheduler link name ("leaf01>spine02" or
// "leaf01>spine02#2": the k-th cable from leaf01 to spine02 in port
// order, as scheduler/topotree numbers them) into a cable, finding the
// switches by the names this fabric gives them.
func (f *Fabric) ResolveLink(name string) (Cable, error) { return f.ResolveLinkBy(name, nil) }

// ResolveLinkBy is ResolveLink with the switches found by node GUID:
// guidOf gives the GUID of a switch the scheduler's tree names (from the
// imported topology the tree was built of); a name it does not know
// (ok false, or guidOf nil) is looked up by this fabric's names. GUIDs
// do not depend on how either side names switches (a name map given at
// import, descriptions changed since, two switches sharing a name).
func (f *Fabric) ResolveLinkBy(name string, guidOf func(string) (uint64, bool)) (Cable, error) {
	leaf, up, ok := strings.Cut(name, ">")
	if !ok {
		return Cable{}, fmt.Errorf("route: link %q: want leaf>spine or leaf>spine#k", name)
	}
	k := 1
	if sp, n, ok := strings.Cut(up, "#"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return Cable{}, fmt.Errorf("route: link %q: bad cable number", name)
		}
		up, k = sp, v
	}
	l, err := f.switchFor(name, leaf, guidOf)
	if err != nil {
		return Cable{}, err
	}
	s, err := f.switchFor(name, up, guidOf)
	if err != nil {
		return Cable{}, err
	}
	seen := 0
	for p := range l.Ports {
		if l.Ports[p].Switch == s {
			if seen++; seen == k {
				return Cable{Switch: l.GUID, Port: p}, nil
			}
		}
	}
	return Cable{}, fmt.Errorf("route: link %q: %s has %d cable(s) to %s", name, l.Name, seen, s.Name)
}

func (f *Fabric) switchFor(link, name string, guidOf func(string) (uint64, bool)) (*Switch, error) {
	if guidOf != nil {
		if g, ok := guidOf(name); ok {
			if s := f.bySwitch[g]; s != nil {
				return s, nil
			}
			return nil, fmt.Errorf("route: link %q: switch %q (GUID 0x%016x) is not in the fabric", link, name, g)
		}
	}
	if s := f.byName[name]; s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("route: link %q: switch %q is not in the fabric", link, name)
}

// Job is an isolated job as routing sees it: its end ports and the
// cables it holds (empty for a job on one leaf).
type Job struct {
	ID     string
	Ports  []uint64
	Cables []Cable
}

// New builds a fabric from switches and end ports already cabled to each
// other (Switch.Ports, End.Switch), e.g. by a simulator.
func New(switches []*Switch, ends []*End) (*Fabric, error) {
	f := &Fabric{Switches: switches, Ends: ends}
	return f, f.index()
}
