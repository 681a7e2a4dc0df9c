// Package health watches the InfiniBand links of the fabric and says which
// nodes can still be given to tenants and how many healthy uplinks each
// leaf switch has left.
//
// It is split in two on purpose:
//
//   - a pure core, Monitor.Observe(Sample) Report, that keeps a rolling
//     window of samples per link and classifies links, nodes and leaves.
//     It does no I/O and reads no clock (time comes with the sample), so
//     every rule (counter resets, saturation, missing links, stale
//     discoveries) is tested with hand-made samples;
//   - collectors behind small interfaces (Discoverer, CounterReader,
//     StateReader) that run the real infiniband-diags: `ibnetdiscover -p`
//     for the topology, link widths and speeds, `perfquery` for the error
//     counters, and `smpquery portinfo` only for the few ports whose
//     logical state is in doubt. Collector.Collect turns one round of
//     them into a Sample.
//
// Why ibnetdiscover -p and not smpquery portinfo for every port: on the
// 2x4x8 ibsim fabric one ibnetdiscover -p (every port, one process) took
// 39-45 ms, one smpquery portinfo (one port) 31-40 ms, so covering the 49
// switch ports with smpquery costs 1.5-2 s, ~40 times more
// (BenchmarkStateSources, two runs on 2 busy shared cores). The process is the cost, so PerfQuery also reads all
// of a switch's ports with one perfquery.
//
// ibnetdiscover cannot tell an Active port from one stuck in Init or
// Armed (it walks every physically up link), so the Collector asks
// smpquery about the ports where that can happen: links that are new or
// came back since the previous round, ports last seen not Active, and
// ports whose LinkDownedCounter moved (the link went down and up between
// two discoveries). A port that stayed Active and LinkUp cannot leave
// Active without going Down first, so the rest need no check.
//
// What "down" means here: a link that was seen before (or was expected)
// and is missing from the last discovery, or a port whose state is not
// Active. A failed discovery marks nothing down: it makes the report Stale,
// because an SM-host problem must not drain the whole cluster.
package health
