// Package metrics exports ibexd's state to Prometheus at /metrics.
//
// It uses its own registry rather than client_golang's global one, so what
// ibexd exports is exactly what this package registers: no library can add
// series behind our back, and tests can build as many instances as they
// like.
//
// Every value is read from the replicated state (and raft's own counters)
// at scrape time. Nothing is counted in memory, so a restarted ibexd, or a
// follower, reports the same numbers as the leader for the same state, and
// there is no bookkeeping to get wrong across leadership changes. The cost
// is one state copy per scrape, which is small next to a scrape interval.
//
// # METRICS
//
// Exported now:
//
//	ibex_jobs{state}                   gauge      jobs in the state, by job state (pending, scheduled,
//	                                              running, completed, failed, cancelled, timeout);
//	                                              every state is always present, 0 when empty
//	ibex_job_queue_wait_seconds        histogram  submit-to-start time of every job that has started
//	                                              (StartTime - SubmitTime), computed from the state;
//	                                              a job is counted from the moment it is running
//	                                              (if finished jobs are ever pruned from the state,
//	                                              the counts drop: Prometheus reads a counter reset)
//	ibex_nodes{state}                  gauge      nodes by lifecycle state (ready, allocated,
//	                                              cleaning, quarantined, down); they sum to the
//	                                              node count
//	ibex_nodes_drained                 gauge      nodes with the drain flag set, whatever their state
//	ibex_tenants                       gauge      tenants, the admin included
//	ibex_imaging_bytes_total           counter    image bytes written to nodes and verified, summed
//	                                              from the hygiene ledger (rate() gives bytes/s)
//	ibex_scheduling_pass_duration_seconds histogram the leader controller's scheduling passes
//	ibex_raft_apply_duration_seconds   histogram  propose -> committed and applied, as this server saw it
//	ibex_partition_reconfigurations_total counter subnet-manager applies that changed the desired
//	                                              partitions (leader-local: restarts at 0 on a new leader)
//	ibex_links{health}                 gauge      fabric links by health (healthy, degraded, down);
//	                                              only when the fabric is monitored (--fabric=ibsim)
//	ibex_raft_is_leader                gauge      1 on the raft leader, 0 elsewhere
//	ibex_raft_term                     gauge      current raft term
//	ibex_raft_last_log_index           gauge      index of the last entry in this server's log
//	ibex_raft_commit_index             gauge      highest index known committed
//	ibex_raft_applied_index            gauge      highest index applied to the state machine
//	ibex_raft_last_snapshot_index      gauge      index of the latest snapshot
//	ibex_raft_fsm_pending              gauge      committed entries queued for the state machine
//	ibex_raft_peers                    gauge      other voting servers this server knows of
//	go_*, process_*                               the Go runtime and process collectors
//
// The raft series come from hashicorp/raft's Stats and are left out of a
// scrape if raft does not report them.
//
// /metrics is served without authentication, like most Prometheus
// endpoints: it carries counts only, never tenant or job names, and the
// HTTP listener binds to loopback unless configured otherwise.
package metrics
