package ibnet

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// HostClass says what a host of an imported fabric is for.
type HostClass int

const (
	// ClassCompute hosts become nodes jobs run on.
	ClassCompute HostClass = iota
	// ClassInfra hosts (login, storage, UFM, scheduler controllers) are
	// on the fabric but are not rented out: ibex never schedules them
	// unless an admin labels them.
	ClassInfra
)

func (c HostClass) String() string {
	if c == ClassInfra {
		return "infrastructure"
	}
	return "compute"
}

// ClassifyOptions are the admin's say in Classify.
type ClassifyOptions struct {
	// Infra marks hosts whose names match as infrastructure (--infra).
	Infra *regexp.Regexp
	// Roles are the name map's explicit roles (ParseMapRoles); they win
	// over everything else.
	Roles map[string]HostClass
}

// ClassifiedHost is one host with its class and why.
type ClassifiedHost struct {
	Name  string
	Class HostClass
	Why   string
}

// Classification is what Classify decided for every host of a fabric.
type Classification struct {
	// Layout is the compute nodes' HCA layout: the number of HCA ports
	// cabled to leaf switches that most hosts have (the larger on a tie).
	Layout int
	Hosts  []ClassifiedHost // in Fabric.Hosts order
	// Warnings name hosts whose class is a guess worth checking.
	Warnings []string
}

// Compute counts the compute hosts.
func (c *Classification) Compute() int {
	n := 0
	for _, h := range c.Hosts {
		if h.Class == ClassCompute {
			n++
		}
	}
	return n
}

// Infra returns the infrastructure hosts.
func (c *Classification) Infra() []ClassifiedHost {
	var out []ClassifiedHost
	for _, h := range c.Hosts {
		if h.Class == ClassInfra {
			out = append(out, h)
		}
	}
	return out
}

// Classify tells compute nodes from infrastructure. By default compute
// nodes are the hosts with the fabric's common HCA layout (Layout): on a
// GPU fabric of 8-rail nodes, a host with a single HCA port on the fabric
// is a login, storage or management machine. In order:
//
//  1. the name map's role ("infra" or "compute" after the name);
//  2. a name matching opt.Infra: infrastructure;
//  3. no HCA port on a leaf switch: infrastructure (nothing to place it
//     on);
//  4. one HCA port where the layout has several: infrastructure;
//  5. anything else is compute; a port count other than the layout's
//     (a rail cable down, a dual-port storage head) is warned about.
//
// Names are never guessed from ("login" may be a compute node's name on
// some site): patterns are the admin's, through opt.Infra.
func Classify(f *Fabric, opt ClassifyOptions) Classification {
	ports := make([]int, len(f.hosts))
	count := map[int]int{}
	for i, h := range f.hosts {
		for _, a := range h.HCAs {
			if a.Leaf != nil {
				ports[i]++
			}
		}
		if ports[i] > 0 {
			count[ports[i]]++
		}
	}
	var c Classification
	for k, n := range count {
		if n > count[c.Layout] || n == count[c.Layout] && k > c.Layout {
			c.Layout = k
		}
	}
	for i, h := range f.hosts {
		ch := ClassifiedHost{Name: h.Name, Class: ClassCompute}
		role, mapped := opt.Roles[h.Name]
		switch {
		case mapped:
			ch.Class, ch.Why = role, "the name map says "+role.String()
		case opt.Infra != nil && opt.Infra.MatchString(h.Name):
			ch.Class, ch.Why = ClassInfra, fmt.Sprintf("name matches --infra %q", infraPattern(opt.Infra))
		case ports[i] == 0:
			ch.Class, ch.Why = ClassInfra, "no HCA port on a leaf switch"
		case ports[i] == 1 && c.Layout > 1:
			ch.Class, ch.Why = ClassInfra, fmt.Sprintf("1 HCA port on the fabric, compute nodes have %d", c.Layout)
		case ports[i] != c.Layout:
			ch.Why = fmt.Sprintf("%d HCA ports on the fabric, most have %d", ports[i], c.Layout)
			c.Warnings = append(c.Warnings, fmt.Sprintf("host %s has %d HCA ports on leaf switches where most hosts have %d: counted as compute (a cable down? mark it infra in the name map if it is not a compute node)", h.Name, ports[i], c.Layout))
		default:
			ch.Why = fmt.Sprintf("%d HCA port(s) on the fabric, like most hosts", ports[i])
		}
		c.Hosts = append(c.Hosts, ch)
	}
	for name := range opt.Roles {
		if f.hostByName[name] == nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("the name map gives host %s a role, but the dump has no such host", name))
		}
	}
	slices.Sort(c.Warnings)
	return c
}

// infraPattern is the pattern as the admin wrote it (CompileInfra anchors
// it).
func infraPattern(re *regexp.Regexp) string {
	p := re.String()
	if strings.HasPrefix(p, "^(?:") && strings.HasSuffix(p, ")$") {
		return p[4 : len(p)-2]
	}
	return p
}

// maxInfraPattern bounds --infra (Go regexps run in linear time, but the
// pattern is stored with the import).
const maxInfraPattern = 512

// CompileInfra compiles an --infra pattern; "" gives nil (no pattern).
// The whole host name must match ("login" does not match "login01"; use
// "login.*").
func CompileInfra(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, nil
	}
	if len(pattern) > maxInfraPattern {
		return nil, fmt.Errorf("--infra pattern longer than %d bytes", maxInfraPattern)
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("--infra %q: %v", pattern, err)
	}
	return re, nil
}
