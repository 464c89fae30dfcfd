// Package cluster runs one region's Raft group: it opens the raft-boltdb/v2
// log and stable store and the file snapshot store, bootstraps a new region,
// applies commands with idempotent retry, keeps the per-node read lease that
// gates local crypto operations, and runs leader-only tasks (schedulers).
//
// Invariants (ARCHITECTURE.md decisions 2 and 4, design-notes §1–2):
//
//   - Writes go through [Cluster.Apply] only. Every command carries a request
//     ID, so retrying after raft.ErrLeadershipLost (outcome unknown) can never
//     apply a change twice.
//   - A node serves crypto from its local FSM only while its read lease is
//     valid: the lease is renewed with a committed Barrier (a ReadIndex) and is
//     valid for Δ from the moment the renewal was *sent*, on the monotonic
//     clock. No lease, no crypto: callers get [ErrNoLease], a retryable error.
//   - Revoking changes (DisableKey, ScheduleKeyDeletion) are held for Δ after
//     commit ([Cluster.ApplyRevoking]) so no lease granted before the change
//     can still be used when the caller hears success.
//   - Leadership never leaks upward: package kms calls Apply and never asks
//     who leads. Forwarding writes from followers arrives with the cluster
//     issue; the hook for it is [Cluster.Apply]'s not-leader branch.
package cluster
