package ibnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// FatTreeConfig shapes a synthetic fabric for GenerateFatTree. Real dumps
// of large fabrics are rarely public, so tests and benchmarks build their
// own in the same text format.
type FatTreeConfig struct {
	// Pods of LeavesPerPod leaves and SpinesPerPod spines; every leaf is
	// cabled once to every spine of its pod.
	Pods, LeavesPerPod, SpinesPerPod int
	// Cores makes a three-level tree: spine j of every pod is cabled to
	// core group j (Cores/SpinesPerPod cores). 0 gives a two-level tree,
	// which needs Pods == 1 to be connected.
	Cores int
	// HostsPerLeaf single-HCA hosts "nodeNNNNN" ("node00042 HCA-1").
	HostsPerLeaf int
	// RailHostsPerPod GPU hosts "gpuNNNN" with Rails HCAs (mlx5_0...) each,
	// HCA r on leaf r of the pod: the rail-optimised layout.
	RailHostsPerPod, Rails int
	// SUsPerPod > 1 splits a pod's GPU hosts into that many scalable units
	// (DGX SuperPOD's SUs) with leaves of their own: SU u uses leaves
	// u·Rails .. u·Rails+Rails-1 of the pod.
	SUsPerPod int
	// RailSpines makes the spines rail-optimised too: each pod has
	// SpinesPerPod spines per rail ("p01-r1-spine01"), leaf l of a pod is
	// cabled only to the spines of its rail (l mod Rails), and core k to
	// spine k/(Cores/SpinesPerPod) of every rail of every pod, so rails
	// meet only at the core (the SuperPOD layout).
	RailSpines bool
	// SHARP puts an aggregation node on an extra last port of every
	// switch, as Quantum switches do.
	SHARP bool
	// DownLinks leaves that many leaf-spine cables out of the dump, as a
	// failed cable would be (the ports are then simply not listed).
	DownLinks int
	// SwitchPorts is the radix (default 40); unused ports are down.
	SwitchPorts int
}

type genNode struct {
	kind    NodeKind
	guid    uint64
	sysImg  uint64
	desc    string
	lid     int
	devID   int
	nports  int
	ports   []genPort // index = port number
	portLID []int
}

type genPort struct {
	peer     *genNode
	peerPort int
	rate     string
}

func (c *FatTreeConfig) validate() error {
	if c.SwitchPorts == 0 {
		c.SwitchPorts = 40
	}
	if c.Rails == 0 {
		c.Rails = 8
	}
	switch {
	case c.Pods < 1 || c.LeavesPerPod < 1 || c.SpinesPerPod < 0 || c.Cores < 0 || c.HostsPerLeaf < 0 || c.RailHostsPerPod < 0:
		return errors.New("ibnet: fat tree needs at least one pod and leaf, and no negative counts")
	case c.Cores > 0 && (c.SpinesPerPod == 0 || c.Cores%c.SpinesPerPod != 0):
		return errors.New("ibnet: Cores must be a multiple of SpinesPerPod")
	case c.SUsPerPod < 0:
		return errors.New("ibnet: negative SUsPerPod")
	case c.Rails*max(1, c.SUsPerPod) > c.LeavesPerPod && c.RailHostsPerPod > 0:
		return errors.New("ibnet: rail hosts need at least Rails leaves per pod and SU")
	case c.SUsPerPod > 1 && c.RailHostsPerPod%c.SUsPerPod != 0:
		return errors.New("ibnet: RailHostsPerPod must be a multiple of SUsPerPod")
	case c.RailSpines && c.LeavesPerPod%c.Rails != 0:
		return errors.New("ibnet: rail spines need LeavesPerPod to be a multiple of Rails")
	case c.SwitchPorts > maxPort-1:
		return errors.New("ibnet: SwitchPorts too large")
	}
	leafPorts := c.HostsPerLeaf + c.RailHostsPerPod + c.SpinesPerPod
	spinePorts := c.LeavesPerPod
	if c.Cores > 0 {
		spinePorts += c.Cores / c.SpinesPerPod
	}
	corePorts := c.Pods
	if c.RailSpines {
		corePorts *= c.Rails
	}
	if leafPorts > c.SwitchPorts || spinePorts > c.SwitchPorts || corePorts > c.SwitchPorts {
		return fmt.Errorf("ibnet: fat tree needs %d leaf, %d spine and %d core ports, radix is %d",
			leafPorts, spinePorts, corePorts, c.SwitchPorts)
	}
	return nil
}

// GenerateFatTree writes a fabric in default ibnetdiscover format:
// switches first, then CAs, each cable listed from both ends, like the
// real tool. Names, GUIDs and LIDs are deterministic.
func GenerateFatTree(w io.Writer, cfg FatTreeConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	g := &fatTreeGen{cfg: cfg}
	g.build()
	return g.write(w)
}

type fatTreeGen struct {
	cfg      FatTreeConfig
	switches []*genNode
	cas      []*genNode
	lid      int
}

func (g *fatTreeGen) newNode(kind NodeKind, desc string, nports int) *genNode {
	g.lid++
	n := &genNode{kind: kind, desc: desc, nports: nports, lid: g.lid,
		ports: make([]genPort, nports+1), portLID: make([]int, nports+1)}
	if kind == KindSwitch {
		n.guid = 0x0c42a10300000000 + uint64(len(g.switches)+1)<<4
		n.sysImg, n.devID = n.guid, 0xd2f0
		g.switches = append(g.switches, n)
	} else {
		n.guid = 0xb8599f0300000000 + uint64(len(g.cas)+1)<<4
		n.sysImg, n.devID = n.guid, 0x101b
		g.cas = append(g.cas, n)
		n.portLID[1] = n.lid
		for p := 2; p <= nports; p++ {
			g.lid++
			n.portLID[p] = g.lid
		}
	}
	return n
}

func cable(a *genNode, ap int, b *genNode, bp int, rate string) {
	a.ports[ap] = genPort{peer: b, peerPort: bp, rate: rate}
	b.ports[bp] = genPort{peer: a, peerPort: ap, rate: rate}
}

func (g *fatTreeGen) build() {
	c := g.cfg
	radix := c.SwitchPorts
	if c.SHARP {
		radix++ // like "Switch 41" on a 40-port QM8700
	}
	sw := func(desc string) *genNode { return g.newNode(KindSwitch, desc, radix) }
	leaves := make([][]*genNode, c.Pods)
	spines := make([][]*genNode, c.Pods)
	railsOfSpines := 1 // spines per pod = SpinesPerPod × railsOfSpines
	if c.RailSpines {
		railsOfSpines = c.Rails
	}
	for p := range c.Pods {
		for l := range c.LeavesPerPod {
			leaves[p] = append(leaves[p], sw(fmt.Sprintf("MF0;p%02d-leaf%02d:MQM8700/U1", p+1, l+1)))
		}
		for r := range railsOfSpines {
			for s := range c.SpinesPerPod {
				desc := fmt.Sprintf("MF0;p%02d-spine%02d:MQM8700/U1", p+1, s+1)
				if c.RailSpines {
					desc = fmt.Sprintf("MF0;p%02d-r%d-spine%02d:MQM8700/U1", p+1, r+1, s+1)
				}
				spines[p] = append(spines[p], sw(desc))
			}
		}
	}
	var cores []*genNode
	for i := range c.Cores {
		cores = append(cores, sw(fmt.Sprintf("MF0;core%03d:MQM8700/U1", i+1)))
	}
	down := c.DownLinks
	for p := range c.Pods {
		for l, leaf := range leaves[p] {
			r, port := 0, l+1
			if c.RailSpines {
				r, port = l%c.Rails, l/c.Rails+1
			}
			for s := range c.SpinesPerPod {
				if down > 0 {
					down--
					continue
				}
				cable(leaf, c.HostsPerLeaf+c.RailHostsPerPod+s+1, spines[p][r*c.SpinesPerPod+s], port, "4xHDR")
			}
		}
	}
	if c.Cores > 0 {
		group := c.Cores / c.SpinesPerPod
		for p := range c.Pods {
			for i, spine := range spines[p] {
				r, s := i/c.SpinesPerPod, i%c.SpinesPerPod
				for k := range group {
					cable(spine, c.LeavesPerPod+k+1, cores[s*group+k], p*railsOfSpines+r+1, "4xHDR")
				}
			}
		}
	}
	g.addHosts(leaves)
	if c.SHARP {
		for _, s := range g.switches {
			an := g.newNode(KindCA, "Mellanox Technologies Aggregation Node", 1)
			an.sysImg, an.devID = s.guid, 0xcf09
			cable(s, radix, an, 1, "4xHDR")
		}
	}
}

func (g *fatTreeGen) addHosts(leaves [][]*genNode) {
	c := g.cfg
	total := c.Pods * c.LeavesPerPod * c.HostsPerLeaf
	width := len(fmt.Sprint(total))
	i := 0
	for _, pod := range leaves {
		for _, leaf := range pod {
			for h := range c.HostsPerLeaf {
				i++
				ca := g.newNode(KindCA, fmt.Sprintf("node%0*d HCA-1", width, i), 1)
				cable(leaf, h+1, ca, 1, "4xEDR")
			}
		}
	}
	i = 0
	sus := max(1, c.SUsPerPod)
	perSU := c.RailHostsPerPod / sus
	for _, pod := range leaves {
		for h := range c.RailHostsPerPod {
			i++
			u := h / perSU
			for r := range c.Rails {
				ca := g.newNode(KindCA, fmt.Sprintf("gpu%04d mlx5_%d", i, r), 1)
				cable(pod[u*c.Rails+r], c.HostsPerLeaf+h%perSU+1, ca, 1, "4xNDR")
			}
		}
	}
}

func (g *fatTreeGen) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, "#\n# Topology file: generated by ibnet.GenerateFatTree\n#\n")
	for _, s := range g.switches {
		fmt.Fprintf(bw, "\nvendid=0x2c9\ndevid=0x%x\nsysimgguid=0x%x\nswitchguid=0x%x(%x)\n", s.devID, s.sysImg, s.guid, s.guid)
		fmt.Fprintf(bw, "Switch\t%d \"S-%016x\"\t\t# \"%s\" enhanced port 0 lid %d lmc 0\n", s.nports, s.guid, s.desc, s.lid)
		for p := 1; p <= s.nports; p++ {
			gp := s.ports[p]
			if gp.peer == nil {
				continue
			}
			if gp.peer.kind == KindSwitch {
				fmt.Fprintf(bw, "[%d]\t\"S-%016x\"[%d]\t\t# \"%s\" lid %d %s\n", p, gp.peer.guid, gp.peerPort, gp.peer.desc, gp.peer.lid, gp.rate)
			} else {
				pg := gp.peer.guid + uint64(gp.peerPort) - 1
				fmt.Fprintf(bw, "[%d]\t\"H-%016x\"[%d](%x) \t\t# \"%s\" lid %d %s\n", p, gp.peer.guid, gp.peerPort, pg, gp.peer.desc, gp.peer.portLID[gp.peerPort], gp.rate)
			}
		}
	}
	for _, n := range g.cas {
		fmt.Fprintf(bw, "\nvendid=0x2c9\ndevid=0x%x\nsysimgguid=0x%x\ncaguid=0x%x\n", n.devID, n.sysImg, n.guid)
		fmt.Fprintf(bw, "Ca\t%d \"H-%016x\"\t\t# \"%s\"\n", n.nports, n.guid, n.desc)
		for p := 1; p <= n.nports; p++ {
			gp := n.ports[p]
			if gp.peer == nil {
				continue
			}
			fmt.Fprintf(bw, "[%d](%x) \t\"S-%016x\"[%d]\t\t# lid %d lmc 0 \"%s\" lid %d %s\n",
				p, n.guid+uint64(p)-1, gp.peer.guid, gp.peerPort, n.portLID[p], gp.peer.desc, gp.peer.lid, gp.rate)
		}
	}
	return bw.Flush()
}
