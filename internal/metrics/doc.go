// Package metrics is one node's Prometheus instrumentation: a registry of
// its own per node (never prometheus.DefaultRegisterer, so several nodes in
// one test process do not collide), the request counters and latency
// histograms the API updates on every call ([Requests]), and collectors
// that read Raft, the read lease, the state machine and the audit sink at
// scrape time, which costs nothing between scrapes.
//
// Series (all prefixed kmsnode_, in base units; docs in deploy/README.md):
//
//   - requests_total{operation,code}, request_duration_seconds{operation},
//     requests_in_flight, throttled_requests_total;
//   - raft_state{state}, raft_term, raft_commit_index, raft_applied_index,
//     raft_last_log_index, raft_last_contact_seconds, raft_peers,
//     raft_voters, raft_nonvoters, raft_last_snapshot_index,
//     raft_last_snapshot_size_bytes, lease_age_seconds,
//     lease_duration_seconds, ready, sealed, node_info{node_id,node_region};
//   - keys{state}, aliases, identities, grants, state_count_seconds;
//   - audit_records_total, audit_write_duration_seconds,
//     audit_fsync_duration_seconds, audit_pending_bytes,
//     audit_queued_records, audit_dropped_records_total,
//     audit_failures_total, audit_healthy;
//   - the Go runtime (go_*) and process (process_*) collectors.
//
// Cardinality is bounded by construction: label values are operation names
// the API knows (anything else is "unknown"), AWS error types from the
// API's one error table, Raft states and key states. No key ID, alias,
// principal, access key ID, address or secret is ever a label value.
//
// Counting the state (keys by state, aliases, grants) walks the FSM in
// pages under its read lock, ~30 ms of CPU at 100 k keys. The result is
// kept until the FSM has applied a new entry and at least
// max([StateCountInterval], 100 × the walk's own duration) has passed, so
// counting takes at most 1 % of a core however often the node is scraped
// and however large its state (figures in deploy/README.md, Metrics).
package metrics
