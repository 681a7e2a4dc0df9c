// Package ibnet turns a real InfiniBand fabric dump into a topology model
// and a Slurm topology.conf.
//
// The dump is what admins already have: the output of `ibnetdiscover`. We
// read it instead of querying the fabric ourselves because the control plane
// must work from a file captured on any host with an HCA (and from archived
// dumps), without SMP access or libibumad. Three dialects are accepted, and
// the first significant line decides which one a file is written in:
//
//   - the default ibnetdiscover output: "vendid=/devid=/sysimgguid=/
//     switchguid=|caguid=" header lines, a "Switch|Ca|Rt <ports> "<id>" #
//     ..." node line, then one "[port] "<remote id>"[remote port] # ..." line
//     per connected port;
//   - the ibsim net files, a subset of the above ("Hca" instead of "Ca",
//     free-form ids such as "Switch1", no GUIDs), which fabric/ibsim also
//     writes;
//   - `ibnetdiscover -p` (ports list): one "SW|CA|RT lid port guid width
//     speed [- remote...] ( 'desc' - 'remote desc' )" line per port,
//     including down ports. It prints port GUIDs only, so a CA in this
//     dialect is identified by its port GUID.
//
// Derived data is computed from the graph, never from names: a leaf (level
// 1) is a switch with at least one host HCA cabled to it, and every other
// switch gets its breadth-first distance from the nearest leaf plus one.
// That works for two- and three-level trees whatever the site called its
// switches, and stays O(switches+links).
//
// Not every CA is a host. SHARP aggregation nodes (one per Quantum switch,
// node description "Mellanox Technologies Aggregation Node") and other CAs
// that live inside a switch chassis are recognised and kept out of the host
// list, otherwise every switch would look like a leaf.
package ibnet
