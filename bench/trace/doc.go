// Package trace replays Standard Workload Format (SWF) traces through the
// real scheduler (scheduler.Schedule, the code ibexd runs) in virtual time
// and measures what each policy makes of them. cmd/ibex-trace is its
// command line.
//
// # From SWF to ibex jobs
//
// ibex rents whole nodes, so a job of P processors (field 5, or field 8
// when 5 is missing) asks for ceil(P / ProcsPerNode) nodes; ProcsPerNode
// defaults to 1, which is exact for KTH-SP2 (100 single-processor SP2
// nodes: 100 procs = 100 nodes) and for the Lublin model (which generates
// node counts). The job runs for field 4 and declares field 9 as its time
// limit (field 4 when 9 is missing); a job that ran past its request
// (KTH-SP2's EASY scheduler had a grace period) has its limit raised to
// its runtime, because ibex kills jobs at their limit and backfill relies
// on it. Tenants are users (field 12). Records without a size, run time or
// submit time, and jobs larger than the cluster, are dropped and counted.
//
// # The cluster
//
// By default the machine the trace came from: MaxNodes (else MaxProcs)
// from the header, on a leaf/spine fat tree of 16-node leaves (the last
// leaf partly filled: KTH-SP2 is 6 leaves of 16 and one of 4), or a
// three-level tree with pods. Nodes are never down; a finished job's nodes
// are free at once.
//
// # The metrics
//
//   - utilization: node-seconds run / (nodes × makespan), makespan from the
//     first submission to the last end. On an underloaded trace it is the
//     offered load whatever the policy.
//   - wait: start - submit; mean and 95th percentile.
//   - bounded slowdown: max(1, (wait + run) / max(run, 10 s)), mean.
//   - topology, over every job of two or more nodes (the reading Slurm's
//     placement is measured by): the leaves a job spans against the lower
//     bound, the fewest leaves of the fabric's real sizes (mixed sizes and
//     partial leaves included) whose nodes add up to the job's. "at leaf
//     LB" is the fraction placed at the bound, "excess" the mean of spanned
//     minus bound, and both again per bound (where the misses are) and at
//     the pod level on trees with pods. No job is left out of the
//     denominator, so the reading can fail for any policy. With --why,
//     each policy's misses by job size (2, 3-4, 5-8, ... nodes) say why:
//     "placer" (the free nodes allowed the bound), "at once" (started on
//     submission on a fragmented cluster) or "queued" (waited, then
//     started fragmented; "held" if it had been promised a start).
//
// # Synthetic streams
//
// StreamSpec draws a reproducible stream (DefaultStream: 200 jobs of 1-32
// nodes on 4 leaves of 16 at 90% offered load, 20% asking for
// --switches=LB@30s); ibex-trace --stream N replays seeds 1..N and pools
// them (Pool), since one stream of 200 jobs is too small to compare
// policies on.
package trace
