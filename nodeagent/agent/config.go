package agent

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ibex-hpc/ibex/nodeagent/erase"
)

// DefaultServerName is the name the agent checks ibexd's certificate for.
// Agents reach servers by IP address or by names that differ per site, so
// instead of the dialled host the agent verifies one fixed DNS SAN that
// ibexd puts in every agent-listener certificate it issues.
const DefaultServerName = "ibexd"

// Defaults for the zero fields of Config.
const (
	DefaultSysfsRoot           = "/"
	DefaultGossipBind          = "0.0.0.0:7946"
	DefaultGossipProbeInterval = time.Second            // memberlist LAN default
	DefaultGossipProbeTimeout  = 500 * time.Millisecond // memberlist LAN default
	DefaultBackoffMin          = 500 * time.Millisecond
	DefaultBackoffMax          = 30 * time.Second
	DefaultRefusedRetry        = 5 * time.Minute
	DefaultProgressInterval    = 250 * time.Millisecond
	DefaultDialTimeout         = 15 * time.Second
	DefaultInventoryTimeout    = 30 * time.Second
)

// Config is everything an agent needs to know that is not hardware. The
// zero values of the tunables are replaced by the defaults above in
// WithDefaults; Validate checks the result.
type Config struct {
	// Node is this node's name in ibex. It is the CN of the node
	// certificate and the gossip member name, so it must match what the
	// join token was created for.
	Node string
	// Servers are ibexd agent-API addresses (host:port). The agent tries
	// them in turn; any server forwards or answers, so one reachable
	// server is enough.
	Servers []string
	// ServerName is the DNS SAN the servers' certificates must carry
	// (DefaultServerName).
	ServerName string
	// DataDir holds the node key, certificates, gossip settings and the
	// task journal. It is created 0700 and every file in it is 0600: the
	// key is the node's identity and the gossip key opens the membership.
	DataDir string

	// JoinToken is the one-time secret that lets this node enroll. It is
	// only needed while DataDir holds no certificate.
	JoinToken string
	// CAPin is "sha256:<64 hex>" of the cluster CA certificate (DER), as
	// printed by ibexd; see PinCA. It is how the agent trusts the server
	// before it has the CA: the join token is only sent to a server whose
	// presented chain contains the pinned CA.
	CAPin string
	// CAFile, instead of (or as well as) CAPin, is a PEM file with the
	// cluster CA certificate.
	CAFile string

	// SysfsRoot is the directory holding sys/class/infiniband (the live
	// host is "/").
	SysfsRoot string
	// Disk is the imaging and erase target: a block device or, for
	// simulated nodes, a regular file.
	Disk string
	// DiskKind is how Disk can be erased: file, hdd, ssd or nvme (the
	// erase package's kinds). Empty means detect: a regular file is
	// "file", a block device is classified by erase.DetectKind (nvme*
	// names, else sysfs's rotational flag), which drivers sometimes get
	// wrong, hence the override.
	DiskKind string
	// Device is the flasher's device name for the HCA to pin ("mlx5_0",
	// a PCI address). Empty means every HCA found under SysfsRoot, by its
	// RDMA device name.
	Device string
	// FirmwareDir holds the firmware image files FirmwareTask pins name,
	// unless Agent.FirmwareStore is set.
	FirmwareDir string

	// GossipBind is the memberlist bind address (host:port; port 0 picks
	// a free port). NoGossip turns membership off, e.g. for a node whose
	// servers use no gossip.
	GossipBind string
	// GossipAdvertise is the address other members reach this node at,
	// when it differs from the bind address (NAT, 0.0.0.0 binds on hosts
	// with several interfaces).
	GossipAdvertise string
	NoGossip        bool
	// GossipSeeds are servers' gossip addresses to join besides those
	// enrollment handed out, which go stale when servers move or are
	// added after the node enrolled.
	GossipSeeds []string
	// GossipProbeInterval and GossipProbeTimeout tune memberlist failure
	// detection; tests on loopback shorten them to see a failure quickly.
	GossipProbeInterval time.Duration
	GossipProbeTimeout  time.Duration
	// GossipInterval is how often the member passes queued membership
	// news to a few others (0: memberlist's LAN default, 200ms). Many
	// members in one process (simulated nodes) lengthen it to save CPU.
	GossipInterval time.Duration

	// BackoffMin and BackoffMax bound the reconnect back-off, which
	// doubles per failed round with jitter so that a restarted server is
	// not hit by every node at the same instant.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// RefusedRetry is the wait after a server refused the node
	// certificate (revoked, or from another cluster). Retrying fast would
	// only flood the logs; retrying at all lets an operator's fix (an
	// unrevoke, a restored CA) take effect without touching the node.
	RefusedRetry time.Duration
	// ProgressInterval is the least time between two TaskProgress
	// messages for one task.
	ProgressInterval time.Duration
	// DialTimeout bounds connecting to one server (TCP, TLS, stream).
	DialTimeout time.Duration
	// Keepalive, when > 0, sends HTTP/2 pings on the stream at this
	// interval. It is off by default because gRPC servers close
	// connections that ping more often than their enforcement policy
	// allows (5 min unless configured); the OS TCP keepalive that gRPC
	// enables still notices dead peers.
	Keepalive time.Duration
	// InventoryTimeout bounds collecting the Hello inventory (BMCs can be
	// slow).
	InventoryTimeout time.Duration

	// BootMode and BootRecord (boot.go): what this boot of the node is,
	// reported in every Hello so that a deployment through the BMC has
	// the node's own word on what it booted. "" reports nothing;
	// BootRamdisk is a deployment's one-time boot; BootDisk is the image
	// on Disk, which BootRecord names.
	BootMode   BootMode
	BootRecord string
}

// WithDefaults returns c with zero tunables replaced by their defaults.
func (c Config) WithDefaults() Config {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.SysfsRoot == "" {
		c.SysfsRoot = DefaultSysfsRoot
	}
	if c.GossipBind == "" {
		c.GossipBind = DefaultGossipBind
	}
	set(&c.GossipProbeInterval, DefaultGossipProbeInterval)
	set(&c.GossipProbeTimeout, DefaultGossipProbeTimeout)
	set(&c.BackoffMin, DefaultBackoffMin)
	set(&c.BackoffMax, DefaultBackoffMax)
	set(&c.RefusedRetry, DefaultRefusedRetry)
	set(&c.ProgressInterval, DefaultProgressInterval)
	set(&c.DialTimeout, DefaultDialTimeout)
	set(&c.InventoryTimeout, DefaultInventoryTimeout)
	return c
}

// Validate checks c (after WithDefaults) without touching the network or
// the disk.
func (c Config) Validate() error {
	var errs []error
	if err := checkNodeName(c.Node); err != nil {
		errs = append(errs, err)
	}
	if len(c.Servers) == 0 {
		errs = append(errs, errors.New("no server addresses"))
	}
	for _, s := range c.Servers {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("server address %q: want host:port", s))
		}
	}
	if c.ServerName == "" {
		errs = append(errs, errors.New("ServerName is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DataDir is empty"))
	}
	if c.CAPin != "" {
		if _, err := ParsePin(c.CAPin); err != nil {
			errs = append(errs, err)
		}
	}
	if c.JoinToken != "" && c.CAPin == "" && c.CAFile == "" {
		errs = append(errs, errors.New("a join token needs a CA pin or a CA file: without one the agent cannot tell ibexd from an impostor it would hand the token to"))
	}
	if c.Disk == "" {
		//lint:ignore ST1005 names the Config field, like the other messages of Validate
		errs = append(errs, errors.New("Disk is empty: imaging and erase need a target"))
	}
	switch erase.Kind(c.DiskKind) {
	case "", erase.KindFile, erase.KindHDD, erase.KindSSD, erase.KindNVMe:
	default:
		errs = append(errs, fmt.Errorf("disk kind %q: want file, hdd, ssd or nvme", c.DiskKind))
	}
	if !c.NoGossip {
		if _, _, err := net.SplitHostPort(c.GossipBind); err != nil {
			errs = append(errs, fmt.Errorf("gossip bind %q: want host:port", c.GossipBind))
		}
		for _, seed := range c.GossipSeeds {
			if _, _, err := net.SplitHostPort(seed); err != nil {
				errs = append(errs, fmt.Errorf("gossip seed %q: want host:port", seed))
			}
		}
		if c.GossipAdvertise != "" {
			if _, _, err := net.SplitHostPort(c.GossipAdvertise); err != nil {
				errs = append(errs, fmt.Errorf("gossip advertise %q: want host:port", c.GossipAdvertise))
			}
		}
	}
	for name, d := range map[string]time.Duration{
		"GossipProbeInterval": c.GossipProbeInterval, "GossipProbeTimeout": c.GossipProbeTimeout,
		"BackoffMin": c.BackoffMin, "BackoffMax": c.BackoffMax, "RefusedRetry": c.RefusedRetry,
		"ProgressInterval": c.ProgressInterval, "DialTimeout": c.DialTimeout, "InventoryTimeout": c.InventoryTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v must be > 0", name, d))
		}
	}
	if err := c.checkBoot(); err != nil {
		errs = append(errs, err)
	}
	if c.GossipInterval < 0 {
		errs = append(errs, fmt.Errorf("GossipInterval %v is negative", c.GossipInterval))
	}
	if c.Keepalive < 0 {
		//lint:ignore ST1005 names the Config field, like the other messages of Validate
		errs = append(errs, fmt.Errorf("Keepalive %v is negative", c.Keepalive))
	}
	if c.BackoffMax < c.BackoffMin {
		errs = append(errs, fmt.Errorf("BackoffMax %v < BackoffMin %v", c.BackoffMax, c.BackoffMin))
	}
	if c.GossipProbeTimeout > c.GossipProbeInterval {
		errs = append(errs, fmt.Errorf("GossipProbeTimeout %v > GossipProbeInterval %v", c.GossipProbeTimeout, c.GossipProbeInterval))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("agent: invalid config: %w", errors.Join(errs...))
}

// checkNodeName accepts host-name-like names. The name becomes a
// certificate CN, a gossip member name and a log field, so it is kept to
// 1-63 of [A-Za-z0-9._-], starting with a letter or digit.
func checkNodeName(n string) error {
	if n == "" || len(n) > 63 {
		return fmt.Errorf("node name %q: want 1-63 characters", n)
	}
	if !isAlnum(n[0]) {
		return fmt.Errorf("node name %q: must start with a letter or digit", n)
	}
	if i := strings.IndexFunc(n, func(r rune) bool { return r > 0x7f || !isAlnum(byte(r)) && r != '.' && r != '_' && r != '-' }); i >= 0 {
		return fmt.Errorf("node name %q: character %q not allowed", n, n[i])
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
