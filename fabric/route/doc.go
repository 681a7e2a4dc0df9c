// Package route computes the unicast forwarding tables (LFTs) that make
// link isolation (`--isolation links`, scheduler/links.go) hold on the
// wire, renders them for OpenSM's `file` routing engine, reads tables
// back from the switches (ibroute/dump_lfts output) and checks them.
//
// What the scheduler allocates: an isolated job on several leaves holds,
// at every one of its leaves, the cables to one set S of planes (a plane
// is "the k-th cable to spine s"). What the tables must do with it:
//
//	(a) traffic between two of the job's nodes on different leaves
//	    crosses only cables the job holds;
//	(b) no route to a destination outside the job, from any switch,
//	    crosses a cable the job holds.
//
// Why destination-based tables can do (a). An InfiniBand switch forwards
// by destination LID only, so the path from leaf A to a host d on leaf B
// in a two-level tree is A's uplink for d, then the spine's downlink for
// d: two cables, each chosen once per destination. For d in an isolated
// job J, Compute allows as uplink for d at every leaf of J only J's
// cables, and as downlink for d from every spine J's cables reach only
// J's cables (any other cable there counts as a violation). On a leaf A
// of J the uplink for d is therefore J's cable of some plane p, which
// reaches spine s(p), one J's cables reach, so the spine's downlink for d,
// a cable at B (also a leaf of J, where J holds the same planes), is again
// one of J's. So a flow inside J uses J's cable at A and J's cable at B
// and nothing else. Spines none of J's cables reach are only entered from
// other leaves, and may go down to B over a free cable. Which plane: the candidates at each J leaf are
// J's cables ordered by plane (remote spine, then parallel index), which
// is the same ordered set S at every J leaf, and d gets S[r mod |S|]
// where r is d's rank among J's ports on leaf B: the same plane from
// every leaf (consistent), and since |S| >= J's largest share of a leaf,
// different destinations on one leaf get different planes, so no two of
// J's destinations on a leaf share a downlink.
//
// Why (b) is a per-destination choice. For any destination d, a cable
// held by an isolated job other than d's own is a violation; among the
// minimum-hop next hops of a switch, Compute picks one without
// violations when there is one. Minimum hops first, then fewest
// violations: a detour through another leaf would avoid a held cable but
// go down and up again, and up/down paths are what keeps a fat tree's
// routing free of credit-loop deadlocks, so a detour is never taken.
// When every minimum-hop path crosses a held cable (a leaf whose uplinks
// are all held, a spine whose cables to d's leaf are all held), Compute
// still routes d, so the fabric stays connected, and reports the
// conflict; Check reports the same crossing.
//
// Three levels. On a fat tree of pods (leaves under their pod's spines,
// spine j of every pod cabled to the cores of group j) a job spanning
// pods also holds, at spine j of each of its pods, the cable to a core c
// for each of its planes, now (j, c). The rule above is the same with
// "a switch J's cables reach" in place of "a spine": at J's leaves and at
// every switch J's cables reach (its pods' spines of its planes, their
// cores) the route to d may take only J's cables, so J's traffic, once on
// them, stays on them: up the leaf's cable to spine j, up J's cable to
// core c, down J's cable to spine j of d's pod (held there too, the same
// plane), down J's cable to d's leaf. Everyone else avoids every held
// cable, spine-to-core ones included, by the same per-destination
// choice. Routes stay minimum-hop (two cables inside a pod, four across),
// so there is no up-down-up detour. TestRandomAllocationsThreeLevels
// checks all of it on random three-level trees and allocations.
//
// Traffic from outside J to J's nodes (a non-J host sending to d) may
// use J's downlink at B: destination-based routing cannot tell sources
// apart, and it is the partition (one P_Key per job, tenants limited
// members of the default partition) that stops such traffic.
//
// Multi-LID ports. With OpenSM's lmc > 0 every CA port answers to 2^lmc
// LIDs (End.LIDs); each is routed by the rules above, the i-th on the
// plane after the (i-1)-th's, so a job's traffic gets LMC's multipath
// inside its own cables, and Check traces every LID. (Switch port 0 keeps
// one LID.) TestFabricLinkIsolationRoutesLMC loads such tables into
// OpenSM with lmc 1.
//
// Limits: switches and CA ports only (no routers), and the tables are
// recomputed from the whole fabric each time (a few milliseconds for
// hundreds of switches).
package route
